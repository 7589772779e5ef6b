package envconf

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Variable is one environment variable a configuration struct reads.
type Variable struct {
	// Name is the variable's name, as envconfig reads it; Default is the
	// field's `default` tag, Desc its `desc` tag.
	Name, Default, Desc string
	field               reflect.Value
}

// Variables lists the variables envconfig reads for spec, a pointer to a
// struct of string fields and nested structs, under prefix, in field order.
// The names are envconfig's own (split_words and all), so that messages,
// documentation checks and the reading itself cannot disagree.
func Variables(prefix string, spec any) ([]Variable, error) {
	var buf bytes.Buffer
	if err := envconfig.Usagef(prefix, spec, &buf, "{{range .}}{{usage_key .}}\t{{usage_default .}}\t{{.Name}}\t{{usage_description .}}\n{{end}}"); err != nil {
		return nil, fmt.Errorf("list environment variables: %w", err)
	}
	fields := stringFields(reflect.ValueOf(spec).Elem(), nil)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(fields) {
		return nil, fmt.Errorf("list environment variables: %d variables for %d string fields", len(lines), len(fields))
	}
	vars := make([]Variable, len(fields))
	for i, line := range lines {
		parts := strings.Split(line, "\t")
		if len(parts) != 4 || parts[2] != fields[i].name {
			return nil, fmt.Errorf("list environment variables: %q does not match field %s", line, fields[i].name)
		}
		vars[i] = Variable{Name: parts[0], Default: parts[1], Desc: parts[3], field: fields[i].v}
	}
	return vars, nil
}

// Names returns a T, a configuration struct of strings, whose every field
// holds the name of the variable it is read from under prefix:
// Names[ESEnv]("ELASTICSEARCH").URL is "ELASTICSEARCH_URL". Messages take
// variable names from it rather than from constants that could drift from
// the struct. It panics if T is not such a struct, a programming error.
func Names[T any](prefix string) T {
	var names T
	vars, err := Variables(prefix, &names)
	if err != nil {
		panic(err)
	}
	for _, v := range vars {
		v.field.SetString(v.Name)
	}
	return names
}

// Read fills spec, a pointer to a configuration struct of strings, from the
// environment under prefix; a set but empty variable takes its default
// (see EmptyToDefault).
func Read(prefix string, spec any) error {
	// Only string fields: an error is a programming error, not bad input.
	if err := envconfig.Process(prefix, spec); err != nil {
		return fmt.Errorf("read environment: %w", err)
	}
	EmptyToDefault(spec)
	return nil
}

// EmptyToDefault gives every string field of spec (a pointer to a struct,
// nested structs included) that is empty its `default` tag, unless the
// field is tagged keep_empty. envconfig applies defaults only to unset
// variables; here set-but-empty counts as unset.
func EmptyToDefault(spec any) {
	for _, f := range stringFields(reflect.ValueOf(spec).Elem(), nil) {
		if f.v.String() == "" && f.tag.Get("keep_empty") != "true" {
			f.v.SetString(f.tag.Get("default"))
		}
	}
}

type stringField struct {
	name string
	tag  reflect.StructTag
	v    reflect.Value
}

// stringFields appends the settable string fields of the struct v, depth
// first in field order, as envconfig visits them.
func stringFields(v reflect.Value, out []stringField) []stringField {
	for i := range v.NumField() {
		f, ft := v.Field(i), v.Type().Field(i)
		switch {
		case !f.CanSet():
		case f.Kind() == reflect.Struct:
			out = stringFields(f, out)
		case f.Kind() == reflect.String:
			out = append(out, stringField{ft.Name, ft.Tag, f})
		}
	}
	return out
}
