package httpapi

import (
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendAccessLine appends the request log line for attrs: the bytes slog's
// JSONHandler writes for the same record (TestAccessLineMatchesSlog), made
// without slog's generic attribute handling. The line is written for every
// request, and slog's encoding of it was ~6% of a read's CPU. Only the kinds
// logRequest uses are supported: strings, integers and floats.
func appendAccessLine(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr) []byte {
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	for _, a := range attrs {
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':')
		switch a.Value.Kind() {
		case slog.KindInt64:
			b = strconv.AppendInt(b, a.Value.Int64(), 10)
		case slog.KindFloat64:
			// encoding/json's form, which slog uses: plain decimals between
			// 1e-6 and 1e21.
			f := a.Value.Float64()
			if abs := max(f, -f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
				b = strconv.AppendFloat(b, f, 'e', -1, 64)
				// and, like it, e-07 as e-7
				if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
					b[n-2] = b[n-1]
					b = b[:n-1]
				}
			} else {
				b = strconv.AppendFloat(b, f, 'f', -1, 64)
			}
		default:
			b = appendJSONString(b, a.Value.String())
		}
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s quoted as slog quotes it: '"', '\\' and control
// characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
