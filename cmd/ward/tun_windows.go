//go:build !ward_omit_desktop

package main

// tunPrivilege is what --tun needs here.
const tunPrivilege = "needs an administrator's console, and wintun.dll beside ward.exe"
