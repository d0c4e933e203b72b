package main

// tunPrivilege is what --tun needs here.
const tunPrivilege = "needs root: sudo"
