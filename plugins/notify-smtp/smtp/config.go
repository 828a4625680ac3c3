package smtp

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// The values of the tls attribute.
const (
	ModeStartTLS = "starttls"
	ModeTLS      = "tls"
	ModeNone     = "none"
)

// Defaults of optional attributes.
const (
	DefaultMode    = ModeStartTLS
	DefaultSubject = "[restic-manager] {{.Severity}}: {{.Title}}"
	DefaultTimeout = 30 * time.Second
)

// defaultPorts are the ports of each mode when port is not set: submission
// with STARTTLS, submissions (implicit TLS), and SMTP.
var defaultPorts = map[string]int{ModeStartTLS: 587, ModeTLS: 465, ModeNone: 25}

// maxCAFileBytes bounds the CA file.
const maxCAFileBytes = 1 << 20

// schema is the config block of a notify-smtp channel. Its attribute names
// are a contract: configurations and docs/notifications.md use them.
var schema = plugin.Schema{Attributes: []plugin.Attribute{
	{
		Name:        "host",
		Type:        plugin.TypeString,
		Required:    true,
		Description: "Host name or IP address of the SMTP server; the TLS certificate must be valid for it.",
	},
	{
		Name:        "port",
		Type:        plugin.TypeNumber,
		Description: `TCP port of the SMTP server; 587 for tls = "starttls", 465 for "tls" and 25 for "none" by default.`,
	},
	{
		Name:        "tls",
		Type:        plugin.TypeString,
		Description: `How the connection is encrypted: "starttls" (the default; STARTTLS is required), "tls" (implicit TLS) or "none" (only for a relay on localhost when credentials are set).`,
	},
	{
		Name:        "username",
		Type:        plugin.TypeString,
		Description: "User for SMTP authentication (AUTH PLAIN or LOGIN); needs password.",
	},
	{
		Name:        "password",
		Type:        plugin.TypeString,
		Sensitive:   true,
		Description: "Password for SMTP authentication; needs username.",
	},
	{
		Name:        "from",
		Type:        plugin.TypeString,
		Required:    true,
		Description: `Sender address, such as "restic-manager@example.com" or "Backups <backups@example.com>".`,
	},
	{
		Name:        "to",
		Type:        plugin.TypeListString,
		Required:    true,
		Description: "Recipient addresses; at least one.",
	},
	{
		Name:        "subject",
		Type:        plugin.TypeString,
		Description: `Go text/template for the subject over the notification (.Event, .Severity, .Title, .Host, .Job, …); by default "[restic-manager] {{.Severity}}: {{.Title}}".`,
	},
	{
		Name:        "ca_file",
		Type:        plugin.TypeString,
		Description: "PEM file of the CA certificates that the server's certificate is checked against, instead of the system's; for a server with a private or self-signed certificate.",
	},
	{
		Name:        "timeout",
		Type:        plugin.TypeString,
		Description: `How long sending one message may take, connection included, as a Go duration such as "30s" (the default).`,
	},
}}

// config is the JSON object Configure receives; its names are the schema's.
type config struct {
	Host     string       `json:"host"`
	Port     *json.Number `json:"port"`
	TLS      string       `json:"tls"`
	Username string       `json:"username"`
	Password string       `json:"password"`
	From     string       `json:"from"`
	To       []string     `json:"to"`
	Subject  *string      `json:"subject"`
	CAFile   string       `json:"ca_file"`
	Timeout  string       `json:"timeout"`
}

// settings is a validated configuration. It holds the password: never log
// or format it as a whole.
type settings struct {
	host      string
	addr      string // host:port
	mode      string
	tlsConfig *tls.Config // nil for ModeNone
	username  string
	password  string
	from      *mail.Address
	to        []*mail.Address
	subject   *template.Template
	timeout   time.Duration
	// hello is the name the client introduces itself with (EHLO).
	hello string
}

// parseConfig decodes and validates a config object, reporting every
// problem at once. Its errors never contain the password.
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
		host:     strings.TrimSpace(c.Host),
		mode:     DefaultMode,
		username: strings.TrimRight(c.Username, "\r\n"),
		// file("…") keeps a trailing newline; no password ends in one.
		password: strings.TrimRight(c.Password, "\r\n"),
		timeout:  DefaultTimeout,
		hello:    helloName(),
	}

	if s.host == "" {
		errs = append(errs, errors.New("host is required"))
	} else if strings.ContainsAny(s.host, " /:\r\n") && net.ParseIP(s.host) == nil {
		errs = append(errs, fmt.Errorf("host %q is not a host name or an IP address (the port goes into port)", s.host))
	}

	if c.TLS != "" {
		s.mode = strings.ToLower(c.TLS)
	}
	port, ok := defaultPorts[s.mode]
	if !ok {
		errs = append(errs, fmt.Errorf(`tls %q: use "starttls", "tls" or "none"`, c.TLS))
	}
	if c.Port != nil {
		p, err := strconv.Atoi(c.Port.String())
		if err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("port %s is not a TCP port", c.Port))
		}
		port = p
	}
	s.addr = net.JoinHostPort(s.host, strconv.Itoa(port))

	switch {
	case s.username == "" && s.password == "":
	case s.username == "":
		errs = append(errs, errors.New("password is set but username is not"))
	case s.password == "":
		errs = append(errs, errors.New("username is set but password is not"))
	case s.mode == ModeNone && !isLocalhost(s.host):
		errs = append(errs, fmt.Errorf(`tls = "none" would send the password unencrypted to %s; use "starttls" or "tls" (only localhost may go without)`, s.host))
	}

	if from, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("from %q is not a mail address: %w", c.From, err))
	} else {
		s.from = from
	}
	if len(c.To) == 0 {
		errs = append(errs, errors.New("to needs at least one recipient"))
	}
	for _, addr := range c.To {
		to, err := mail.ParseAddress(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("to: %q is not a mail address: %w", addr, err))
			continue
		}
		s.to = append(s.to, to)
	}

	subject := DefaultSubject
	if c.Subject != nil {
		subject = *c.Subject
	}
	if t, err := parseSubject(subject); err != nil {
		errs = append(errs, err)
	} else {
		s.subject = t
	}

	if s.mode != ModeNone {
		s.tlsConfig = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pool, err := loadCAFile(c.CAFile)
			if err != nil {
				errs = append(errs, err)
			}
			s.tlsConfig.RootCAs = pool
		}
	} else if c.CAFile != "" {
		errs = append(errs, errors.New(`ca_file is set but tls is "none"`))
	}

	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("timeout %q is not a duration such as \"30s\"", c.Timeout))
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

// loadCAFile reads a PEM file of CA certificates.
func loadCAFile(path string) (*x509.CertPool, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the operator names the file
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("ca_file: %w", err)
	case len(b) > maxCAFileBytes:
		return nil, fmt.Errorf("ca_file %s is larger than %d bytes", path, maxCAFileBytes)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// isLocalhost reports whether host is this machine by name, as net/smtp
// decides whether credentials may travel unencrypted.
func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// helloName is the name the client gives in EHLO: this machine's host name
// if it has one, "localhost" otherwise.
func helloName() string {
	name, err := os.Hostname()
	if err != nil || name == "" || strings.ContainsAny(name, " \r\n") {
		return "localhost"
	}
	return name
}
