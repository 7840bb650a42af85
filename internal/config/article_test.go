package config

import (
	"strings"
	"testing"
)

// "This destination block's url is an s3:// URL", not "a s3:// URL".
func TestLoad_MissingServerPathReadsWithTheRightArticle(t *testing.T) {
	for url, want := range map[string]string{
		"s3://bucket/p":                                "is an s3:// URL",
		"smb://fs01.corp.example/drs/p":                "is an smb:// URL",
		"azblob://container/p?storage_account=drsacct": "is an azblob:// URL",
	} {
		cfg := strings.Replace(minimalConfig(`"sqlserver://h"`, "", ""), `    url = "s3://bucket/p"
    server_path = "s3://s3.example/bucket/p"`, `    url = "`+url+`"`, 1)
		_, diags := Load(writeConfig(t, map[string]string{"a.drs.hcl": cfg}), testOptions)
		if !strings.Contains(diagsText(diags), want) {
			t.Errorf("%s: want %q in:%s", url, want, diagsText(diags))
		}
	}
	for scheme, want := range map[string]string{"s3": "an s3://", "smb": "an smb://", "azblob": "an azblob://", "gs": "a gs://", "file": "a file://", "https": "an https://", "unc": "a unc://"} {
		if got := schemeWithArticle(scheme); got != want {
			t.Errorf("schemeWithArticle(%q) = %q, want %q", scheme, got, want)
		}
	}
}
