package plan

import (
	"bytes"
	"io"
	"testing"
)

// FuzzPlanLoad: the saved-plan reader never panics, and a plan it accepts is
// one drsctl can handle: show renders it (human and -json) without error,
// Save writes it, Load reads that back as the same plan, and saving again
// gives the same bytes. Seeds: every sample plan Make writes, and the
// corpus under testdata/fuzz/FuzzPlanLoad (the refused shapes and edge times).
func FuzzPlanLoad(f *testing.F) {
	for _, p := range samplePlans() {
		b, err := p.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load(bytes.NewReader(data))
		if err != nil {
			if p != nil {
				t.Fatalf("Load returned a plan and an error: %v", err)
			}
			return
		}
		if err := WriteHuman(io.Discard, p, Style{Color: true}); err != nil {
			t.Fatalf("show of an accepted plan: %v", err)
		}
		if err := WriteJSON(io.Discard, p, "fuzz"); err != nil {
			t.Fatalf("show -json of an accepted plan: %v", err)
		}
		var first bytes.Buffer
		if err := Save(&first, p); err != nil {
			t.Fatalf("Save of an accepted plan: %v", err)
		}
		again, err := Load(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("Load of what Save wrote: %v\n%s", err, first.Bytes())
		}
		if diff := equalPlans(p, again); diff != "" {
			t.Fatalf("Load(Save(Load(x))) differs from Load(x) (-first +second):\n%s", diff)
		}
		var second bytes.Buffer
		if err := Save(&second, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("saving a reloaded plan changed it:\n%s\n---\n%s", first.Bytes(), second.Bytes())
		}
	})
}
