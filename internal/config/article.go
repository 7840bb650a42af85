package config

import "strings"

// schemeWithArticle is "an s3://", "an smb://", "an azblob://", "a gs://":
// a scheme is read letter by letter when it starts with a consonant
// ("ess-three", "ess-em-bee", "gee-ess"), as a word when it starts with a
// vowel ("az-blob"); "u" reads "you" and "file" is a word.
func schemeWithArticle(scheme string) string {
	s := strings.ToLower(scheme)
	an := s != "" && strings.ContainsRune("aeiofhlmnrsx", rune(s[0])) && s != "file"
	if an {
		return "an " + scheme + "://"
	}
	return "a " + scheme + "://"
}
