package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Defaults of optional attributes.
const (
	DefaultMethod  = http.MethodPost
	DefaultTimeout = 10 * time.Second
	DefaultRetries = 3
)

// maxRetries bounds the retries attribute.
const maxRetries = 10

// schema is the config block of a notify-webhook channel. Its attribute
// names are a contract: configurations and docs/notifications.md use them.
var schema = plugin.Schema{Attributes: []plugin.Attribute{
	{
		Name:        "url",
		Type:        plugin.TypeString,
		Required:    true,
		Description: "The http:// or https:// URL requests are sent to; only its scheme and host appear in logs and errors, since many services put a token in the path.",
	},
	{
		Name:        "method",
		Type:        plugin.TypeString,
		Description: `HTTP method: "POST" (the default), "PUT" or "PATCH".`,
	},
	{
		Name:        "headers",
		Type:        plugin.TypeMapString,
		Sensitive:   true,
		Description: `Extra request headers, such as { Authorization = "Bearer …" }; Content-Type defaults to application/json.`,
	},
	{
		Name:        "template",
		Type:        plugin.TypeString,
		Description: "Go text/template for the request body over the notification (.Event, .Severity, .Title, .Body, .Host, .Job, .Links, .Time; func json); by default the documented JSON object.",
	},
	{
		Name:        "secret",
		Type:        plugin.TypeString,
		Sensitive:   true,
		Description: "Key of an HMAC-SHA256 over the exact body, sent hex-encoded as X-Restic-Manager-Signature: sha256=<hex>.",
	},
	{
		Name:        "timeout",
		Type:        plugin.TypeString,
		Description: `How long one attempt may take, as a Go duration such as "10s" (the default).`,
	},
	{
		Name:        "retries",
		Type:        plugin.TypeNumber,
		Description: "How many times a failed delivery (network error, 408, 429 or 5xx) is retried, with exponential backoff; 3 by default, 0 to 10.",
	},
}}

// config is the JSON object Configure receives; its names are the schema's.
type config struct {
	URL      string            `json:"url"`
	Method   string            `json:"method"`
	Headers  map[string]string `json:"headers"`
	Template *string           `json:"template"`
	Secret   string            `json:"secret"`
	Timeout  string            `json:"timeout"`
	Retries  *json.Number      `json:"retries"`
}

// settings is a validated configuration. It holds the secret and the
// headers, which may carry credentials: never log or format it as a whole.
type settings struct {
	url      string // the full URL; may carry a token, never shown
	target   string // scheme://host, for logs and errors
	method   string
	headers  http.Header
	template *template.Template // nil: the default JSON body
	secret   []byte
	timeout  time.Duration
	retries  int
}

// reservedHeaders cannot be set with the headers attribute: the HTTP
// client owns the first ones, the plugin the last ones.
var reservedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection",
	SignatureHeader, EventHeader, DeliveryHeader,
}

// parseConfig decodes and validates a config object, reporting every
// problem at once. Its errors never contain the secret, header values or
// more of the URL than its scheme and host.
func parseConfig(raw []byte) (*settings, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decoding the config: %w", err)
	}
	var errs []error
	s := &settings{
		method:  DefaultMethod,
		headers: http.Header{"Content-Type": {"application/json"}},
		timeout: DefaultTimeout,
		retries: DefaultRetries,
	}

	if target, err := parseURL(c.URL); err != nil {
		errs = append(errs, err)
	} else {
		s.url, s.target = c.URL, target
	}

	if c.Method != "" {
		s.method = strings.ToUpper(c.Method)
		switch s.method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			errs = append(errs, fmt.Errorf(`method %q: use "POST", "PUT" or "PATCH"`, c.Method))
		}
	}

	for name, value := range c.Headers {
		// file("…") keeps a trailing newline, which no header value has.
		value = strings.TrimRight(value, "\r\n")
		switch {
		case !validHeaderName(name):
			errs = append(errs, fmt.Errorf("headers: %q is not a valid header name", name))
		case slices.ContainsFunc(reservedHeaders, func(h string) bool { return strings.EqualFold(h, name) }):
			errs = append(errs, fmt.Errorf("headers: %s is set by the plugin or the HTTP client", http.CanonicalHeaderKey(name)))
		case strings.ContainsAny(value, "\r\n\x00"):
			errs = append(errs, fmt.Errorf("headers: the value of %s contains a line break", http.CanonicalHeaderKey(name)))
		default:
			s.headers.Set(name, value)
		}
	}

	if c.Template != nil {
		t, err := parseTemplate(*c.Template)
		if err != nil {
			errs = append(errs, err)
		}
		s.template = t
	}

	// A secret from file("…") loses its trailing newline, like every
	// other secret; the receiver must use the same bytes.
	s.secret = []byte(strings.TrimRight(c.Secret, "\r\n"))

	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("timeout %q is not a duration such as \"10s\"", c.Timeout))
		case d <= 0:
			errs = append(errs, fmt.Errorf("timeout %q must be positive", c.Timeout))
		default:
			s.timeout = d
		}
	}

	if c.Retries != nil {
		r, err := c.Retries.Int64()
		if err != nil || r < 0 || r > maxRetries {
			errs = append(errs, fmt.Errorf("retries %s: use a whole number from 0 to %d", c.Retries, maxRetries))
		} else {
			s.retries = int(r)
		}
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// parseURL checks the webhook URL and returns the part of it that may be
// shown: its scheme and host. Its errors do not repeat the URL.
func parseURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("url is not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("url must start with http:// or https://")
	case u.Host == "":
		return "", errors.New("url has no host")
	}
	return u.Scheme + "://" + u.Host, nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// headerNames returns the names of the configured headers, for the log.
func (s *settings) headerNames() []string {
	names := make([]string, 0, len(s.headers))
	for name := range s.headers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
