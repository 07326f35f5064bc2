package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that sets a key.
const EnvPrefix = "HWTRACK_"

// Error lists every problem found in a configuration, each naming its key.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

func (e *Error) add(format string, args ...any) {
	e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
}

// Flags carries the command-line settings; a nil field was not given.
type Flags struct {
	MQTTAddr    *string
	HTTPAddr    *string
	DataDir     *string
	UpstreamURL *string
	APIToken    *string
	Demo        *bool
}

// Load builds the configuration: defaults, then the YAML file at path (if
// path is not empty), then the HWTRACK_* variables in environ, then flags,
// then validation. The returned error is an *Error naming every bad key.
func Load(path string, environ []string, flags Flags) (Config, error) {
	cfg := Default()
	problems := &Error{}

	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		decodeYAML(data, &cfg, problems)
	}

	applyEnv(environ, &cfg, problems)
	applyFlags(flags, &cfg)
	validate(&cfg, problems)

	if len(problems.Problems) > 0 {
		return cfg, problems
	}
	return cfg, nil
}

// decodeYAML decodes data into cfg and records unknown keys and type errors
// instead of stopping at the first one.
func decodeYAML(data []byte, cfg *Config, problems *Error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		problems.add("config file: %v", err)
		return
	}
	if len(root.Content) == 0 {
		return // an empty file sets nothing
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		problems.add("config file: the top level must be a mapping of keys")
		return
	}
	keyAt := map[int]string{}
	findUnknownKeys(doc, reflect.TypeOf(*cfg), "", keyAt, problems)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(cfg); err != nil {
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			for _, e := range typeErr.Errors {
				problems.add("%s", nameKey(e, keyAt))
			}
			return
		}
		problems.add("config file: %v", err)
	}
}

// findUnknownKeys walks a YAML mapping beside the struct type it decodes
// into and reports each key the struct does not have.
func findUnknownKeys(node *yaml.Node, t reflect.Type, prefix string, keyAt map[int]string, problems *Error) {
	if node.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name := yamlName(f); name != "" {
			fields[name] = f.Type
		}
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key := node.Content[i].Value
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		ft, ok := fields[key]
		if !ok {
			problems.add("%s: unknown key (line %d)", path, node.Content[i].Line)
			continue
		}
		keyAt[node.Content[i].Line] = path
		if _, taken := keyAt[node.Content[i+1].Line]; !taken {
			keyAt[node.Content[i+1].Line] = path
		}
		findUnknownKeys(node.Content[i+1], ft, path, keyAt, problems)
	}
}

// nameKey prefixes a yaml.v3 error such as "line 6: cannot unmarshal ..."
// with the key on that line, so the message names the setting to fix.
func nameKey(msg string, keyAt map[int]string) string {
	var line int
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
		if key, ok := keyAt[line]; ok {
			return key + ": " + msg
		}
	}
	return "config file: " + msg
}

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

// applyEnv sets every key whose HWTRACK_ variable is present in environ and
// reports variables that name no key or hold a bad value.
func applyEnv(environ []string, cfg *Config, problems *Error) {
	setters := map[string]reflect.Value{}
	collectEnvTargets(reflect.ValueOf(cfg).Elem(), "", setters)

	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		target, ok := setters[name]
		if !ok {
			problems.add("%s: unknown environment variable (no such configuration key)", name)
			continue
		}
		if err := setFromString(target, value); err != nil {
			problems.add("%s: %v", name, err)
		}
	}
}

func collectEnvTargets(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		path := strings.ToUpper(name)
		if prefix != "" {
			path = prefix + "_" + path
		}
		field := v.Field(i)
		if field.Kind() == reflect.Struct {
			collectEnvTargets(field, path, out)
			continue
		}
		out[EnvPrefix+path] = field
	}
}

var durationType = reflect.TypeOf(Duration(0))

func setFromString(target reflect.Value, value string) error {
	if target.Type() == durationType {
		d, err := ParseDuration(value)
		if err != nil {
			return err
		}
		target.Set(reflect.ValueOf(d))
		return nil
	}
	switch target.Kind() {
	case reflect.String:
		target.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("invalid boolean %q: want true or false", value)
		}
		target.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("invalid integer %q", value)
		}
		target.SetInt(int64(n))
	case reflect.Float64:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", value)
		}
		target.SetFloat(f)
	case reflect.Slice:
		switch target.Type().Elem().Kind() {
		case reflect.Float64:
			return setFloats(target, value)
		case reflect.Int:
			return setInts(target, value)
		case reflect.String:
		default:
			return fmt.Errorf("cannot be set from the environment; set it in the config file")
		}
		var items []string
		for item := range strings.SplitSeq(value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		target.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// setFloats sets a list of numbers from a comma-separated value.
func setFloats(target reflect.Value, value string) error {
	var items []float64
	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f, err := strconv.ParseFloat(item, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q in the list", item)
		}
		items = append(items, f)
	}
	target.Set(reflect.ValueOf(items))
	return nil
}

// setInts sets a list of integers from a comma-separated value.
func setInts(target reflect.Value, value string) error {
	var items []int
	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, err := strconv.Atoi(item)
		if err != nil {
			return fmt.Errorf("invalid integer %q in the list", item)
		}
		items = append(items, n)
	}
	target.Set(reflect.ValueOf(items))
	return nil
}

func applyFlags(f Flags, cfg *Config) {
	if f.MQTTAddr != nil {
		cfg.MQTT.Addr = *f.MQTTAddr
	}
	if f.HTTPAddr != nil {
		cfg.HTTP.Addr = *f.HTTPAddr
	}
	if f.DataDir != nil {
		cfg.DataDir = *f.DataDir
	}
	if f.UpstreamURL != nil {
		cfg.Upstream.URL = *f.UpstreamURL
	}
	if f.APIToken != nil && *f.APIToken != "" {
		cfg.HTTP.APITokens = append(cfg.HTTP.APITokens, *f.APIToken)
	}
	if f.Demo != nil {
		cfg.Demo = *f.Demo
	}
}
