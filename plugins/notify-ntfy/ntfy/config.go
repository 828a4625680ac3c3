package ntfy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Defaults of optional attributes.
const (
	DefaultServer  = "https://ntfy.sh"
	DefaultTimeout = 10 * time.Second
)

// schema is the config block of a notify-ntfy channel. Its attribute names
// are a contract: configurations and docs/notifications.md use them.
var schema = plugin.Schema{Attributes: []plugin.Attribute{
	{
		Name:        "server",
		Type:        plugin.TypeString,
		Description: `Base URL of the ntfy server, such as "https://ntfy.example.com"; defaults to "https://ntfy.sh".`,
	},
	{
		Name:        "topic",
		Type:        plugin.TypeString,
		Required:    true,
		Description: "Topic to publish to: letters, digits, _ and -, at most 64; on a server without access control the name is the only secret, so make it hard to guess.",
	},
	{
		Name:        "token",
		Type:        plugin.TypeString,
		Sensitive:   true,
		Description: "Access token (tk_…) sent as a Bearer token; not together with username and password.",
	},
	{
		Name:        "username",
		Type:        plugin.TypeString,
		Description: "User for HTTP basic authentication; needs password.",
	},
	{
		Name:        "password",
		Type:        plugin.TypeString,
		Sensitive:   true,
		Description: "Password for HTTP basic authentication; needs username.",
	},
	{
		Name:        "priority",
		Type:        plugin.TypeString,
		Description: `Priority of every message, 1 to 5 or "min", "low", "default", "high", "max"; by default info is 3, warning 4 and critical 5.`,
	},
	{
		Name:        "tags",
		Type:        plugin.TypeListString,
		Description: "Tags added to every message, after the ones derived from the notification; ntfy shows emoji short codes as emojis.",
	},
	{
		Name:        "timeout",
		Type:        plugin.TypeString,
		Description: `How long one publish may take, as a Go duration such as "10s" (the default).`,
	},
}}

// config is the JSON object Configure receives; its names are the schema's.
type config struct {
	Server   *string       `json:"server"`
	Topic    string        `json:"topic"`
	Token    string        `json:"token"`
	Username string        `json:"username"`
	Password string        `json:"password"`
	Priority priorityValue `json:"priority"`
	Tags     []string      `json:"tags"`
	Timeout  string        `json:"timeout"`
}

// priorityValue accepts the priority as a JSON string (what the host sends
// for a string attribute) or as a number.
type priorityValue string

func (p *priorityValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = priorityValue(s)
		return nil
	}
	var f json.Number
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("priority must be a string or a number")
	}
	*p = priorityValue(f.String())
	return nil
}

// settings is a validated configuration. It holds credentials: never log
// or format it as a whole.
type settings struct {
	endpoint   string // where messages are POSTed: the server's root URL
	server     string // the server's URL as shown in logs and errors
	topic      string
	authHeader string // the Authorization header value, or ""
	authKind   string // "none", "token" or "basic", for the log
	priority   int    // 1–5, or 0 to map it from the severity
	tags       []string
	timeout    time.Duration
}

// topicPattern is what ntfy accepts as a topic name.
var topicPattern = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

// priorityNames are ntfy's names of the priorities.
var priorityNames = map[string]int{
	"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5,
}

// parseConfig decodes and validates a config object, reporting every
// problem at once. Its errors never contain the token or the password.
func parseConfig(raw []byte) (*settings, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decoding the config: %w", err)
	}
	var errs []error
	s := &settings{topic: c.Topic, authKind: "none", timeout: DefaultTimeout}

	server := DefaultServer
	if c.Server != nil {
		server = *c.Server
	}
	if endpoint, shown, err := parseServer(server); err != nil {
		errs = append(errs, err)
	} else {
		s.endpoint, s.server = endpoint, shown
	}

	switch {
	case c.Topic == "":
		errs = append(errs, errors.New("topic is required"))
	case !topicPattern.MatchString(c.Topic):
		errs = append(errs, fmt.Errorf("topic %q: use 1 to 64 letters, digits, _ and -", c.Topic))
	}

	// file("…") keeps a trailing newline; no credential ends in one.
	token := trimNewline(c.Token)
	username := trimNewline(c.Username)
	password := trimNewline(c.Password)
	switch {
	case token != "" && (username != "" || password != ""):
		errs = append(errs, errors.New("set either token or username and password, not both"))
	case token != "":
		if strings.ContainsAny(token, "\r\n") {
			errs = append(errs, errors.New("token contains a line break"))
		} else {
			s.authHeader, s.authKind = "Bearer "+token, "token"
		}
	case username != "" || password != "":
		switch {
		case username == "":
			errs = append(errs, errors.New("password is set but username is not"))
		case password == "":
			errs = append(errs, errors.New("username is set but password is not"))
		case strings.Contains(username, ":"):
			errs = append(errs, errors.New("username must not contain a colon"))
		default:
			s.authHeader = "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
			s.authKind = "basic"
		}
	}

	if c.Priority != "" {
		p, err := parsePriority(string(c.Priority))
		if err != nil {
			errs = append(errs, err)
		}
		s.priority = p
	}

	for _, t := range c.Tags {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			errs = append(errs, errors.New("tags: empty tag"))
		case strings.ContainsAny(t, ",\r\n"):
			errs = append(errs, fmt.Errorf("tags: %q contains a comma or a line break", t))
		default:
			s.tags = append(s.tags, t)
		}
	}

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

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// parseServer checks the server URL and returns the URL messages are
// POSTed to (the server's root, with a trailing slash) and the URL to show.
// Its errors do not repeat the URL, which may carry credentials.
func parseServer(raw string) (endpoint, shown string, err error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", "", fmt.Errorf("server is not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", errors.New(`server must be an http:// or https:// URL, such as "https://ntfy.sh"`)
	case u.Host == "":
		return "", "", errors.New("server has no host")
	case u.User != nil:
		return "", "", errors.New("server must not contain credentials; use token, or username and password")
	case u.RawQuery != "" || u.Fragment != "":
		return "", "", errors.New("server must not have a query or a fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	shown = u.String()
	u.Path += "/"
	return u.String(), shown, nil
}

// parsePriority accepts 1–5 or one of ntfy's priority names.
func parsePriority(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if p, ok := priorityNames[s]; ok {
		return p, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 5 {
		return 0, fmt.Errorf(`priority %q: use 1 to 5 or "min", "low", "default", "high", "max"`, s)
	}
	return p, nil
}

// trimNewline removes the line break file() keeps at the end of a file.
func trimNewline(s string) string {
	return strings.TrimRight(s, "\r\n")
}
