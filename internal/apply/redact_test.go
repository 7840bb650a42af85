package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/config"
)

func TestRedact_KeepsChainAndCleanErrors(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV0002")
	x := &execution{r: &Runner{Config: &config.Config{}}}
	err := x.redact(fmt.Errorf("refused Credential=AKIAFROMENV0002/x: %w", context.Canceled))
	if strings.Contains(err.Error(), "AKIAFROMENV0002") || !errors.Is(err, context.Canceled) {
		t.Errorf("redact = %q (Is canceled: %v)", err, errors.Is(err, context.Canceled))
	}
	clean := errors.New("nothing secret")
	if x.redact(clean) != clean || x.redact(nil) != nil {
		t.Error("redact must return an error without credentials as it is")
	}
}
