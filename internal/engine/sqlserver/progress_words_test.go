package sqlserver

import (
	"context"
	"slices"
	"testing"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// SQL Server's progress message (3211, "10 percent processed.") says
// nothing the percentage does not: passed on as the step's words, apply's
// lines read "10% 10 percent processed.". The percentage goes as the
// percent and no words.
func TestProgress_PercentMessagesAreNotRepeatedAsWords(t *testing.T) {
	f := simFixture(t, simOptions{})
	ctx := context.Background()
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)

	var backup steps
	if _, err := open(t, f.primaryDSN).Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak")}, &backup); err != nil {
		t.Fatal(err)
	}
	var restore steps
	if err := open(t, f.targetDSN).Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode), &restore); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*steps{"backup": &backup, "restore": &restore} {
		p.mu.Lock()
		percents, texts := slices.Clone(p.percents), slices.Clone(p.texts)
		p.mu.Unlock()
		if len(percents) == 0 || percents[len(percents)-1] != 100 {
			t.Errorf("%s: percents %v, want up to 100", name, percents)
		}
		for i, s := range texts {
			if s != "" {
				t.Errorf("%s: step %d%% came with the words %q", name, percents[i], s)
			}
		}
	}
}
