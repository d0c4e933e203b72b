package disco

import (
	"crypto/rand"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/crypto/curve25519"

	"github.com/wardnet/ward/wire"
)

func keypair(t testing.TB) (wire.WGPrivate, wire.WGPublic) {
	t.Helper()
	var priv wire.WGPrivate
	rand.Read(priv[:])
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	return priv, wire.WGPublic(pub)
}

func TestSharedKeyIsTheSameOnBothSides(t *testing.T) {
	aPriv, aPub := keypair(t)
	bPriv, bPub := keypair(t)
	ab, err := SharedKey(aPriv, bPub)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := SharedKey(bPriv, aPub)
	if ab != ba {
		t.Fatal("the two sides compute different keys")
	}
	if _, err := SharedKey(aPriv, wire.WGPublic{}); err == nil {
		t.Fatal("a low-order public key gave a key")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	aPriv, aPub := keypair(t)
	_, bPub := keypair(t)
	k, _ := SharedKey(aPriv, bPub)
	eps := []netip.AddrPort{netip.MustParseAddrPort("192.168.1.2:41641"), netip.MustParseAddrPort("[2001:db8::1]:7")}
	for _, m := range []Message{
		{Type: TypePing, TxID: NewTxID()},
		{Type: TypePong, TxID: NewTxID(), Src: netip.MustParseAddrPort("10.1.0.2:5000")},
		{Type: TypeCallMeMaybe, Endpoints: eps},
		{Type: TypeCallMeMaybe},
		{Type: TypeNAT, NAT: NATHard, Probe: true, Reflexive: netip.MustParseAddrPort("10.1.0.2:4000")},
		{Type: TypeNAT, NAT: NATEasy, Reflexive: netip.MustParseAddrPort("[2001:db8::2]:41641")},
	} {
		pkt, err := Seal(k, aPub, m)
		if err != nil {
			t.Fatal(err)
		}
		if !Is(pkt) || len(pkt) > MaxPacketLen {
			t.Fatalf("packet %x", pkt)
		}
		if s, err := Sender(pkt); err != nil || s != aPub {
			t.Fatalf("sender %v, %v", s, err)
		}
		got, err := Open(k, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != m.Type || got.TxID != m.TxID || got.Src != m.Src || len(got.Endpoints) != len(m.Endpoints) ||
			got.NAT != m.NAT || got.Reflexive != m.Reflexive || got.Probe != m.Probe {
			t.Fatalf("got %+v, want %+v", got, m)
		}
		for i := range m.Endpoints {
			if got.Endpoints[i] != m.Endpoints[i] {
				t.Fatalf("endpoint %d: %v, want %v", i, got.Endpoints[i], m.Endpoints[i])
			}
		}
	}
}

// TestDiscoRefusesForgedAndAlteredPackets plays an attacker on the path:
// a packet sealed with another key, one whose claimed sender was swapped,
// and one with a flipped bit all fail authentication.
func TestDiscoRefusesForgedAndAlteredPackets(t *testing.T) {
	aPriv, aPub := keypair(t)
	_, bPub := keypair(t)
	mPriv, mPub := keypair(t)
	k, _ := SharedKey(aPriv, bPub)
	pkt, _ := Seal(k, aPub, Message{Type: TypePing, TxID: NewTxID()})

	forgerKey, _ := SharedKey(mPriv, bPub)
	forged, _ := Seal(forgerKey, aPub, Message{Type: TypePing})
	if _, err := Open(k, forged); !errors.Is(err, ErrAuth) {
		t.Errorf("forged ping: %v", err)
	}
	swapped := append([]byte(nil), pkt...)
	copy(swapped[len(Magic):], mPub[:])
	if _, err := Open(k, swapped); !errors.Is(err, ErrAuth) {
		t.Errorf("sender swapped: %v", err)
	}
	for i := len(Magic); i < len(pkt); i++ {
		flipped := append([]byte(nil), pkt...)
		flipped[i] ^= 1
		if _, err := Open(k, flipped); err == nil {
			t.Fatalf("bit flipped at %d opened", i)
		}
	}
}

func TestMagicIsNeitherWireGuardNorSTUN(t *testing.T) {
	if b := Magic[0]; b >= 1 && b <= 4 {
		t.Fatal("the magic starts like a WireGuard message")
	}
	if Magic[0]&0xc0 == 0 {
		t.Fatal("the magic starts like a STUN message")
	}
	for _, p := range [][]byte{{1, 0, 0, 0}, {4, 0, 0, 0, 1, 2}, {0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42}} {
		if Is(p) {
			t.Fatalf("%x taken for disco", p)
		}
	}
}

func TestParseRefusesMalformedBodies(t *testing.T) {
	tx := make([]byte, TxIDLen)
	cases := map[string][]byte{
		"empty":          nil,
		"short":          {byte(TypePing), 1, 2},
		"ping with data": append(append([]byte{byte(TypePing)}, tx...), 1),
		"short pong":     append(append([]byte{byte(TypePong)}, tx...), 1, 2, 3),
		"cmm count lies": append(append([]byte{byte(TypeCallMeMaybe)}, tx...), 2),
		"cmm too many":   append(append([]byte{byte(TypeCallMeMaybe)}, tx...), MaxEndpoints+1),
		"unknown type":   append([]byte{9}, tx...),
		"nat short":      append(append([]byte{byte(TypeNAT)}, tx...), byte(NATHard), 0),
		"nat no class":   append(append(append([]byte{byte(TypeNAT)}, tx...), 0, 0), make([]byte, 18)...),
		"nat long":       append(append(append([]byte{byte(TypeNAT)}, tx...), byte(NATEasy), 0), make([]byte, 19)...),
	}
	for name, b := range cases {
		if _, err := parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Seal(Key{}, wire.WGPublic{}, Message{Type: TypeCallMeMaybe, Endpoints: make([]netip.AddrPort, MaxEndpoints+1)}); err == nil {
		t.Error("sealed a CallMeMaybe with too many endpoints")
	}
	if _, err := Seal(Key{}, wire.WGPublic{}, Message{Type: TypeNAT}); err == nil {
		t.Error("sealed a NAT message without a class")
	}
}

// TestNATMessageIgnoresUnknownFlags: a later version's flag bits in a
// NAT message do not make it malformed.
func TestNATMessageIgnoresUnknownFlags(t *testing.T) {
	m := Message{Type: TypeNAT, NAT: NATEasy, Reflexive: netip.MustParseAddrPort("10.1.0.2:4000")}
	b, err := m.marshal()
	if err != nil {
		t.Fatal(err)
	}
	b[1+TxIDLen+1] |= 0xfe
	got, err := parse(b)
	if err != nil || got.NAT != NATEasy || got.Probe || got.Reflexive != m.Reflexive {
		t.Fatalf("parse = %+v, %v", got, err)
	}
}

// FuzzOpen feeds arbitrary packets to Open with a fixed key and sealed
// bodies to parse: neither may panic, and what parses re-encodes.
func FuzzOpen(f *testing.F) {
	var k Key
	pub := wire.WGPublic{1}
	for _, m := range []Message{{Type: TypePing}, {Type: TypePong, Src: netip.MustParseAddrPort("1.2.3.4:5")},
		{Type: TypeCallMeMaybe, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("[::1]:2")}},
		{Type: TypeNAT, NAT: NATHard, Probe: true, Reflexive: netip.MustParseAddrPort("10.1.0.2:4000")}} {
		pkt, _ := Seal(k, pub, m)
		f.Add(pkt)
		b, _ := m.marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Open(k, b)
		Sender(b)
		m, err := parse(b)
		if err != nil {
			return
		}
		if _, err := m.marshal(); err != nil {
			t.Fatalf("parsed %+v does not marshal: %v", m, err)
		}
	})
}
