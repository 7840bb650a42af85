package sqlserver

import (
	"errors"
	"net"
	"strings"

	"github.com/microsoft/go-mssqldb/msdsn"
)

// TLS. go-mssqldb's `encrypt` decides what is encrypted and whether the
// server's certificate is checked (msdsn.parseTLS, tds.go connect):
//
//	unset          the login only, and ANY certificate is accepted
//	false          the login only; the certificate is verified
//	true           everything; the certificate is verified
//	strict         TDS 8.0 (SQL Server 2022): TLS before anything else,
//	               verified, trustservercertificate ignored
//	disable        nothing (a server that forces encryption refuses it)
//
// Verified means against the system's CAs, or the PEM file `certificate=`
// names (the CA, or the server's own self-signed certificate), for the host
// in the connection string or `hostnameincertificate=`.
// `trustservercertificate=true` accepts any certificate, an impostor's too.

// tlsWarning says what an operator should know about a connection's TLS
// settings: certificates that are not verified, and logins sent in clear.
// "" when there is nothing to say, and for a server on loopback, where
// nothing crosses a network.
func tlsWarning(cfg msdsn.Config) string {
	_, encryptSet := cfg.Parameters[msdsn.Encrypt]
	trust := cfg.TLSConfig != nil && cfg.TLSConfig.InsecureSkipVerify && cfg.TLSConfig.VerifyPeerCertificate == nil
	if loopback(cfg.Host) {
		return ""
	}
	switch {
	case cfg.Encryption == msdsn.EncryptionDisabled:
		return "the connection string says encrypt=disable: the login and everything after it cross the network in clear " +
			"(and a server that forces encryption refuses it); set encrypt=true with certificate=<the CA's PEM file>"
	case !encryptSet:
		return "the connection string does not set encrypt: go-mssqldb then encrypts the login only and accepts any server certificate, " +
			"an impostor's too; set encrypt=true with certificate=<the CA's PEM file> (or encrypt=strict on SQL Server 2022)"
	case trust:
		return "the connection string says trustservercertificate=true: any server certificate is accepted, an impostor's too; " +
			"give certificate=<the CA's or the server's PEM file> instead"
	}
	return ""
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsHint is what to do about a connection that failed in TLS; "" when err
// is not about TLS.
func tlsHint(cfg msdsn.Config, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "certificate is not valid for any names"):
		return "the server's certificate does not name the host in the connection string: " +
			"set hostnameincertificate=<a name the certificate holds>, or connect by that name"
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "failed to verify certificate"):
		return "the server's certificate is not trusted: add certificate=<PEM file of the CA that signed it, or of the server's own certificate> " +
			"to the connection string, or, knowingly, trustservercertificate=true (any certificate is then accepted, an impostor's too)"
	case strings.Contains(msg, "server does not support encryption"):
		return "the connection string asks for encryption and the server offers none: give the server a certificate " +
			"(SQL Server Configuration Manager, Protocols, Certificate), or set encrypt=disable only where nobody else is on the network"
	case cfg.Encryption == msdsn.EncryptionDisabled && strings.Contains(msg, "TLS Handshake failed"):
		return "the server requires encryption (Force Encryption) and the connection string says encrypt=disable: " +
			"set encrypt=true with certificate=<the CA's PEM file>"
	case cfg.Encryption == msdsn.EncryptionStrict && strings.Contains(msg, "TLS Handshake failed"):
		return "the server did not start TLS: encrypt=strict (TDS 8.0) needs SQL Server 2022 or later with a certificate; " +
			"for older servers use encrypt=true"
	}
	return ""
}

// tlsError is a failed connection with what to do about its TLS.
type tlsError struct {
	err  error
	hint string
}

func (e *tlsError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *tlsError) Unwrap() error { return e.err }

func withTLSHint(cfg msdsn.Config, err error) error {
	var se *ServerError
	if err == nil || errors.As(err, &se) {
		return err
	}
	if h := tlsHint(cfg, err); h != "" {
		return &tlsError{err: err, hint: h}
	}
	return err
}
