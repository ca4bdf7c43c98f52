// Command argocd-health runs an Argo CD resource health script (the Lua of
// `resource.customizations.health.<group>_<kind>` in argocd-cm) on one object the way Argo CD's
// util/lua does, with the interpreter Argo CD embeds (github.com/yuin/gopher-lua), and prints
// the health it returns as one line of JSON:
//
//	argocd-health --script health.lua [--file OBJ.json|-] [--open-libs]
//	{"status":"Healthy|Progressing|Degraded|Suspended|Missing|Unknown","message":"..."}
//
// As in Argo CD:
//   - the object is the global `obj`: maps become tables, arrays 1-based tables, numbers Lua
//     numbers, booleans and strings themselves, null nil;
//   - the state has only the package, base and table libraries and a "safe" os (time and date,
//     reached with `require("os")`), unless --open-libs (Argo CD's `useOpenLibs` override for the
//     key) opens the standard ones (string, math, ...) too;
//   - the script has one second;
//   - the returned table is encoded with layeh.com/gopher-json and decoded into
//     {status, message}: an empty table or a field of the wrong type gives an empty health,
//     a status outside the six codes gives Unknown "Lua returned an invalid health status".
//
// Exit 0 when a health status was printed; 1 when the script fails, returns something other
// than a table, or returns no status (Argo CD would then show no health for the object);
// 2 on usage errors.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// healthStatus is gitops-engine's health.HealthStatus.
type healthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

const (
	incorrectReturnType = "expect %s output from Lua script, not %s"
	invalidHealthStatus = "Lua returned an invalid health status"
	scriptTimeout       = time.Second
)

var validCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

func main() {
	fs := flag.NewFlagSet("argocd-health", flag.ContinueOnError)
	script := fs.String("script", "", "the health script (Lua)")
	file := fs.String("file", "-", "the object, JSON (- for stdin)")
	openLibs := fs.Bool("open-libs", false, "open Lua's standard libraries, as Argo CD's useOpenLibs does")
	if err := fs.Parse(os.Args[1:]); err != nil || *script == "" || fs.NArg() != 0 {
		if err == nil {
			err = errors.New("--script is required and no positional arguments are taken")
		}
		fmt.Fprintf(os.Stderr, "argocd-health: %v\nusage: argocd-health --script FILE.lua [--file OBJ.json|-] [--open-libs]\n", err)
		os.Exit(2)
	}
	hs, err := run(*script, *file, *openLibs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-health: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(verdict{Status: hs.Status, Message: hs.Message})
	fmt.Println(string(out))
}

func run(scriptPath, objPath string, openLibs bool) (*healthStatus, error) {
	src, err := os.ReadFile(scriptPath)
	if err != nil {
		return nil, err
	}
	var data []byte
	if objPath == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(objPath)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the object: %w", err)
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", objPath, err)
	}
	hs, err := executeHealthLua(obj, string(src), openLibs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", scriptPath, err)
	}
	if hs.Status == "" {
		return nil, fmt.Errorf("%s returned no health status (Argo CD shows none for the object)", scriptPath)
	}
	return hs, nil
}

// decodeObject reads the object as Argo CD holds it: an unstructured object from the API
// machinery, whose integers are int64 and other numbers float64 (never json.Number, which
// Argo CD's decoder would turn into a string).
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	obj, ok := fixNumbers(v).(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return obj, nil
}

func fixNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, item := range v {
			v[k] = fixNumbers(item)
		}
	case []any:
		for i, item := range v {
			v[i] = fixNumbers(item)
		}
	}
	return v
}

// executeHealthLua is Argo CD's VM.ExecuteHealthLua.
func executeHealthLua(obj map[string]any, script string, openLibs bool) (*healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader)
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTTable:
		encoded, err := luajson.Encode(ret)
		if err != nil {
			return nil, err
		}
		hs := &healthStatus{}
		if err := json.Unmarshal(encoded, hs); err != nil {
			// As Argo CD: an empty table encodes as [] (and any field of the wrong type fails
			// the same way); either is an empty health, not an error.
			var typeError *json.UnmarshalTypeError
			if errors.As(err, &typeError) {
				return &healthStatus{}, nil
			}
			return nil, err
		}
		if !validCodes[hs.Status] {
			return &healthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return hs, nil
	case lua.LTNil:
		return &healthStatus{}, nil
	}
	return nil, fmt.Errorf(incorrectReturnType, "table", ret.Type().String())
}

// decodeValue is Argo CD's conversion of the object into Lua values.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// The "safe" os library: time and date only. Argo CD's OpenSafeOs registers these functions
// under the *table* module's name, so the global `os` stays undefined in its default state and
// a script reaches them through `require("os")` (the preloaded module) only; mirrored here.
var osFuncs = map[string]lua.LGFunction{"time": osTime, "date": osDate}

func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.TabLibName, osFuncs))
	return 1
}

func safeOsLoader(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), osFuncs))
	return 1
}

func osTime(l *lua.LState) int {
	if l.GetTop() == 0 {
		l.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	tbl := l.CheckTable(1)
	field := func(key string, def int) int {
		if n, ok := tbl.RawGetString(key).(lua.LNumber); ok {
			return int(n)
		}
		return def
	}
	t := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
	l.Push(lua.LNumber(t.Unix()))
	return 1
}

func osDate(l *lua.LState) int {
	t := time.Now()
	format := "%c"
	if l.GetTop() >= 1 {
		format = l.CheckString(1)
		if strings.HasPrefix(format, "!") {
			t = t.UTC()
			format = strings.TrimLeft(format, "!")
		}
		if l.GetTop() >= 2 {
			t = time.Unix(l.CheckInt64(2), 0)
		}
		if strings.HasPrefix(format, "*t") {
			ret := l.NewTable()
			for k, v := range map[string]int{
				"year": t.Year(), "month": int(t.Month()), "day": t.Day(), "hour": t.Hour(),
				"min": t.Minute(), "sec": t.Second(), "wday": int(t.Weekday()) + 1, "yday": 0,
			} {
				ret.RawSetString(k, lua.LNumber(v))
			}
			ret.RawSetString("isdst", lua.LFalse)
			l.Push(ret)
			return 1
		}
	}
	l.Push(lua.LString(strftime(t, format)))
	return 1
}

var strftimeFlags = map[byte]string{
	'a': "Mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "02 Jan 06 15:04 MST", 'd': "02",
	'F': "2006-01-02", 'H': "15", 'I': "03", 'm': "01", 'M': "04", 'p': "PM", 'P': "pm", 'S': "05",
	'x': "15/04/05", 'X': "15:04:05", 'y': "06", 'Y': "2006", 'z': "-0700", 'Z': "MST",
}

func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i == len(format)-1 {
			b.WriteByte(c)
			continue
		}
		i++
		switch f := format[i]; {
		case f == '%':
			b.WriteByte('%')
		case f == 'w':
			fmt.Fprint(&b, int(t.Weekday()))
		case strftimeFlags[f] != "":
			b.WriteString(t.Format(strftimeFlags[f]))
		default:
			b.WriteByte('%')
			b.WriteByte(f)
		}
	}
	return b.String()
}
