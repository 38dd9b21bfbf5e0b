package server

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestUnknownPath(t *testing.T) {
	type inner struct {
		Purl string `json:"purl"`
		Arch []string
	}
	type base struct {
		ID int64 `json:"id"`
	}
	type req struct {
		base
		Name   string            `json:"name,omitempty"`
		Apps   []inner           `json:"apps"`
		One    *inner            `json:"one"`
		Labels map[string]inner  `json:"labels"`
		Raw    json.RawMessage   `json:"raw"`
		Skip   string            `json:"-"`
		Extra  map[string]string `json:"extra"`
	}
	for _, tc := range []struct{ body, name, want string }{
		{`{"nmae":"x"}`, "nmae", "nmae"},
		{`{"one":{"purll":"p"}}`, "purll", "one.purll"},
		{`{"apps":[{"purl":"a"},{"prul":"b"}]}`, "prul", "apps[1].prul"},
		{`{"labels":{"web":{"archs":["x"]}}}`, "archs", "labels.web.archs"},
		{`{"one":{"ARCH":["x"],"Purl":"p"},"Skip":"s"}`, "Skip", "Skip"},
		{`{"id":1,"raw":{"anything":1}}`, "anything", ""},
		{`{"extra":{"free":"x"}}`, "free", ""},
	} {
		var doc any
		if err := json.Unmarshal([]byte(tc.body), &doc); err != nil {
			t.Fatal(err)
		}
		if got := unknownPath(doc, reflect.TypeOf(&req{}), tc.name, ""); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}
