package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"15m", 15 * time.Minute},
		{"24h", 24 * time.Hour},
		{"7d", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"2d3h4m5s", 2*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"500ms", 500 * time.Millisecond},
		{"0", 0},
		{"0m", 0},
		{"0d", 0},
		{"-5m", -5 * time.Minute},
		{"-1d", -24 * time.Hour},
		{"+2h", 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDuration_Errors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "empty"},
		{"-", "no number"},
		{"30", "missing unit"},
		{"15", "missing unit"},
		{"1d12", "missing unit"},
		{"30 minutes", "unknown unit"},
		{"7w", "unknown unit"},
		{"1y", "unknown unit"},
		{"d", "expected a number"},
		{"m15", "expected a number"},
		{"1..5h", `bad number "1..5"`},
		{"999999999d", "too long"},
		{"100000d100000d", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("ParseDuration(%q) error = %q, want it to quote the input and contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0:                                  "0s",
		15 * time.Minute:                   "15m",
		time.Hour:                          "1h",
		90 * time.Minute:                   "1h30m",
		7 * 24 * time.Hour:                 "7d",
		36 * time.Hour:                     "1d12h",
		-30 * time.Minute:                  "-30m",
		24*time.Hour + 90*time.Second:      "1d1m30s",
		2*time.Hour + 500*time.Millisecond: "2h0m0.5s",
	}
	for d, want := range tests {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(want); err != nil || back != d {
			t.Errorf("ParseDuration(formatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}
