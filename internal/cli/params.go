package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

// kvFlags collects -p KEY VALUE and -P FILE (or -a/-A for annotations). A
// pflag value takes one argument, so -p records its key and the VALUE that
// follows is taken from the positional arguments by fixArgs.
type kvFlags struct {
	pairs [][2]string // key, value (raw text)
	files []string
}

// pairFlag is a -p KEY VALUE flag: it takes KEY; cobra leaves VALUE among
// the positional arguments, and takePairs moves it back.
type pairFlag struct{ kv *kvFlags }

func (p pairFlag) String() string { return "" }
func (p pairFlag) Type() string   { return "KEY VALUE" }
func (p pairFlag) Set(s string) error {
	p.kv.pairs = append(p.kv.pairs, [2]string{s, "\x00pending"})
	return nil
}

type fileFlag struct{ kv *kvFlags }

func (f fileFlag) String() string { return "" }
func (f fileFlag) Type() string   { return "FILE" }
func (f fileFlag) Set(s string) error {
	f.kv.files = append(f.kv.files, s)
	return nil
}

// addKVFlags adds -p/-P (params) and, when annots is not nil, -a/-A.
func addKVFlags(cmd *cobra.Command, params, annots *kvFlags) {
	cmd.Flags().VarP(pairFlag{params}, "param", "p", "parameter values in `KEY VALUE` format")
	cmd.Flags().VarP(fileFlag{params}, "param-file", "P", "`FILE` containing parameter values in JSON format")
	if annots != nil {
		cmd.Flags().VarP(pairFlag{annots}, "annotation", "a", "annotation values in `KEY VALUE` format")
		cmd.Flags().VarP(fileFlag{annots}, "annotation-file", "A", "`FILE` containing annotation values in JSON format")
	}
	cmd.Flags().SetInterspersed(true)
}

// splitPairArgs pre-processes raw argv so that "-p KEY VALUE" becomes
// "-p KEY\x1fVALUE" which pflag can parse as one value. It is applied to
// os.Args-style slices before cobra sees them.
func splitPairArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-p", "--param", "-a", "--annotation":
			if i+2 < len(args) {
				out = append(out, a, args[i+1]+"\x1f"+args[i+2])
				i += 2
				continue
			}
		case "--":
			return append(out, args[i:]...)
		}
		out = append(out, a)
	}
	return out
}

// resolve returns the key-values: files first, then pairs, in order. A value
// that parses as JSON is kept as JSON, otherwise it is a string, as in wsk.
func (kv *kvFlags) resolve(what string) (client.KeyValues, error) {
	var out client.KeyValues
	for _, f := range kv.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("File '%s' is not a valid file or it does not exist: %v", f, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("Invalid %s file '%s': the content must be a JSON object: %v", what, f, err)
		}
		keys := sortedKeys(m)
		for _, k := range keys {
			out = out.Set(k, m[k])
		}
	}
	for _, p := range kv.pairs {
		key, val := p[0], p[1]
		if k, v, ok := cutPair(key); ok {
			key, val = k, v
		} else if val == "\x00pending" {
			return nil, fmt.Errorf("Arguments for '-%c' must be a key/value pair", what[0])
		}
		var raw json.RawMessage
		if json.Valid([]byte(val)) {
			raw = json.RawMessage(val)
		} else {
			b, _ := json.Marshal(val)
			raw = b
		}
		out = out.Set(key, raw)
	}
	return out, nil
}

func cutPair(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1f {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// clientNouns are the commands whose -p/-a flags take KEY VALUE.
var clientNouns = map[string]bool{"action": true, "trigger": true, "package": true, "rule": true, "activation": true, "api": true}

// preprocessArgs applies splitPairArgs when the command is one of the
// wsk-compatible nouns, leaving other commands' flags alone.
func preprocessArgs(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "--apihost", "--auth", "-u", "--namespace", "--apiversion":
			i++
			continue
		}
		if len(a) > 0 && a[0] == '-' {
			continue
		}
		if clientNouns[a] {
			return splitPairArgs(args)
		}
		return args
	}
	return args
}
