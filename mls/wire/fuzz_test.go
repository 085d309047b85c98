package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// fuzzRoundTrip is the property every decoder must have: on any input it
// either fails with a *codec.DecodeError or decodes to a value that
// re-encodes to exactly the input (the codec is canonical) and decodes
// again to an equal value.
func fuzzRoundTrip(t *testing.T, data []byte, fresh func() codec.Unmarshaler) {
	v := fresh()
	if err := codec.Unmarshal(data, v); err != nil {
		var de *codec.DecodeError
		if !errors.As(err, &de) || de.Field == "" {
			t.Fatalf("decode error %v is not a DecodeError naming a field", err)
		}
		return
	}
	enc, err := codec.Marshal(v.(codec.Marshaler))
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(enc, data) {
		t.Fatalf("re-encoding differs\n got %x\nwant %x", enc, data)
	}
	v2 := fresh()
	if err := codec.Unmarshal(enc, v2); err != nil {
		t.Fatalf("re-encoding does not decode: %v", err)
	}
	if !reflect.DeepEqual(v, v2) {
		t.Fatalf("second decode differs:\n%+v\n%+v", v, v2)
	}
}

// fuzzVectors reads messages.json for seeds without skipping the fuzz
// target when the vectors are missing: the corpus in testdata/fuzz then
// still runs.
func fuzzVectors(f *testing.F) []messagesCase {
	dir := os.Getenv(testvectors.EnvDir)
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata", "mls-vectors")
	}
	data, err := os.ReadFile(filepath.Join(dir, "messages.json"))
	if err != nil {
		f.Logf("no vector seeds: %v", err)
		return nil
	}
	var cases []messagesCase
	if err := json.Unmarshal(data, &cases); err != nil {
		f.Fatalf("messages.json: %v", err)
	}
	const seedCases = 30 // enough to cover every suite and shape
	if len(cases) > seedCases {
		cases = cases[:seedCases]
	}
	return cases
}

// seeds lists, per fuzz target, the vector fields it starts from. MLS
// messages drop their 4-byte header (version, wire_format) where the target
// decodes the bare body.
var seeds = map[string]func(c *messagesCase) [][]byte{
	"FuzzMLSMessage": func(c *messagesCase) [][]byte {
		return [][]byte{c.MLSWelcome, c.MLSGroupInfo, c.MLSKeyPackage, c.PublicMessageApplication,
			c.PublicMessageProposal, c.PublicMessageCommit, c.PrivateMessage}
	},
	"FuzzKeyPackage": func(c *messagesCase) [][]byte {
		return [][]byte{body(c.MLSKeyPackage), c.AddProposal}
	},
	"FuzzWelcome": func(c *messagesCase) [][]byte {
		return [][]byte{body(c.MLSWelcome)}
	},
	"FuzzRatchetTree": func(c *messagesCase) [][]byte {
		return [][]byte{c.RatchetTree}
	},
}

func body(msg []byte) []byte {
	if len(msg) < 4 {
		return nil
	}
	return msg[4:]
}

func addSeeds(f *testing.F, target string) {
	cases := fuzzVectors(f)
	for i := range cases {
		c := &cases[i]
		for _, s := range seeds[target](c) {
			f.Add([]byte(s))
		}
	}
}

func FuzzMLSMessage(f *testing.F) {
	addSeeds(f, "FuzzMLSMessage")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec.Unmarshaler { return new(MLSMessage) })
	})
}

func FuzzKeyPackage(f *testing.F) {
	addSeeds(f, "FuzzKeyPackage")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec.Unmarshaler { return new(KeyPackage) })
	})
}

func FuzzWelcome(f *testing.F) {
	addSeeds(f, "FuzzWelcome")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec.Unmarshaler { return new(Welcome) })
	})
}

func FuzzRatchetTree(f *testing.F) {
	addSeeds(f, "FuzzRatchetTree")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() codec.Unmarshaler { return new(RatchetTree) })
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/<target>/ from the
// synthetic values of syntheticSeeds (never from the RFC vectors, which
// must not be copied into the repository). It runs only with
// MLS_WIRE_WRITE_SEEDS=1; it is a generator, not a check.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("MLS_WIRE_WRITE_SEEDS") != "1" {
		t.Skip("generator only: set MLS_WIRE_WRITE_SEEDS=1 to rewrite the testdata/fuzz seeds")
	}
	for target, seeds := range syntheticSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			name := filepath.Join(dir, fmt.Sprintf("synthetic-%d", i))
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzPrivateMessageContent decodes a decrypted PrivateMessage plaintext;
// the first input byte is the content type taken from the PrivateMessage.
func FuzzPrivateMessageContent(f *testing.F) {
	for _, pmc := range []*PrivateMessageContent{
		{ContentType: ContentTypeApplication, ApplicationData: []byte("hi"), Auth: FramedContentAuthData{Signature: []byte("s")}, PaddingLength: 4},
		{ContentType: ContentTypeProposal, Proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 1}}, Auth: FramedContentAuthData{Signature: []byte("s")}},
		{ContentType: ContentTypeCommit, Commit: &Commit{}, Auth: FramedContentAuthData{Signature: []byte("s"), ConfirmationTag: []byte("t")}, PaddingLength: 1},
	} {
		b, err := codec.Marshal(pmc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(pmc.ContentType)}, b...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ct := ContentType(data[0])
		fuzzRoundTrip(t, data[1:], func() codec.Unmarshaler { return &PrivateMessageContent{ContentType: ct} })
	})
}
