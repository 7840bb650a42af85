package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/drsctl/drsctl/internal/config"
)

// SettingsFingerprint identifies what a configuration says once evaluated:
// every setting of every block, values read with file() or env() included,
// and not where it is written (file names, lines, the directory) nor any
// secret (a connection counts as set, unknown or unset, never by value: a
// saved plan travels as a CI artifact). With the digest of the sources it
// makes a saved plan's ConfigDigest: a file beside the configuration that
// a URL is read from can change while the .drs.hcl files do not.
func SettingsFingerprint(cfg *config.Config) string {
	var b strings.Builder
	canon(&b, reflect.ValueOf(cfg))
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

var (
	secretType   = reflect.TypeOf(config.Secret{})
	rangeType    = reflect.TypeOf(hcl.Range{})
	locationType = reflect.TypeOf(&time.Location{})
)

func canon(b *strings.Builder, v reflect.Value) {
	switch {
	case v.Type() == secretType:
		s := v.Interface().(config.Secret)
		_, err := s.Value()
		fmt.Fprintf(b, "secret(set=%t,known=%t)", s.IsSet(), err == nil)
		return
	case v.Type() == locationType:
		if v.IsNil() {
			b.WriteString("nil")
		} else {
			b.WriteString(v.Interface().(*time.Location).String())
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		canon(b, v.Elem())
	case reflect.Struct:
		b.WriteString(v.Type().Name() + "{")
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Type == rangeType || f.Name == "Files" || f.Name == "Dir" {
				continue
			}
			b.WriteString(f.Name + ":")
			canon(b, v.Field(i))
			b.WriteString(";")
		}
		b.WriteString("}")
	case reflect.Slice, reflect.Array:
		b.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			canon(b, v.Index(i))
			b.WriteString(",")
		}
		b.WriteString("]")
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		vals := map[string]reflect.Value{}
		for _, k := range v.MapKeys() {
			ks := fmt.Sprint(k.Interface())
			keys = append(keys, ks)
			vals[ks] = v.MapIndex(k)
		}
		sort.Strings(keys)
		b.WriteString("map[")
		for _, k := range keys {
			fmt.Fprintf(b, "%q:", k)
			canon(b, vals[k])
			b.WriteString(",")
		}
		b.WriteString("]")
	default:
		fmt.Fprintf(b, "%#v", v.Interface())
	}
}
