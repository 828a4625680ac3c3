package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netsmtp "net/smtp"
	"slices"
	"strings"
)

// send delivers msg in one SMTP session: connect (with implicit TLS or
// followed by STARTTLS, as configured), authenticate, MAIL, RCPT for every
// recipient, DATA, QUIT. The whole session is bounded by the configured
// timeout, and ends at once when ctx does: the connection is closed under
// whatever command is waiting.
func (n *Notifier) send(ctx context.Context, s *settings, msg []byte) error {
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := n.session(sctx, s, msg)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case sctx.Err() != nil || timedOut(err):
		// The connection's deadline is the timeout's own moment and may
		// pass a hair before sctx notices.
		// The channel's own timeout, not the caller's deadline: not
		// reported as context.DeadlineExceeded.
		return fmt.Errorf("no answer within %s (last error: %v)", s.timeout, err) //nolint:errorlint // the cause is the timeout
	}
	return err
}

// session runs the SMTP session of send.
func (n *Notifier) session(ctx context.Context, s *settings, msg []byte) error {
	dialer := &net.Dialer{}
	var conn net.Conn
	var err error
	if s.mode == ModeTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tlsConfig}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	// net/smtp has no contexts: closing the connection ends any command
	// it is waiting on.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}

	c, err := netsmtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if s.mode == ModeStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New(`the server does not offer STARTTLS; use tls = "tls" if it speaks implicit TLS`)
		}
		if err := c.StartTLS(s.tlsConfig); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.username != "" {
		auth, err := chooseAuth(c, s)
		if err != nil {
			return err
		}
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("AUTH as %q: %w", s.username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM <%s>: %w", s.from.Address, err)
	}
	for _, to := range s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("RCPT TO <%s>: %w", to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("the server refused the message: %w", err)
	}
	// The message is accepted; a failing QUIT changes nothing about that.
	if err := c.Quit(); err != nil {
		n.logger.Debug("QUIT failed after the message was accepted", "server", s.addr, "error", err)
	}
	return nil
}

// chooseAuth picks the SASL mechanism: PLAIN if the server offers it, LOGIN
// otherwise. Both refuse to send the password over an unencrypted
// connection to anything but localhost.
func chooseAuth(c *netsmtp.Client, s *settings) (netsmtp.Auth, error) {
	ok, params := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("the server does not offer AUTH (over this connection); check tls and port, or leave out username and password")
	}
	mechs := strings.Fields(strings.ToUpper(params))
	switch {
	case slices.Contains(mechs, "PLAIN"):
		return netsmtp.PlainAuth("", s.username, s.password, s.host), nil
	case slices.Contains(mechs, "LOGIN"):
		return &loginAuth{username: s.username, password: s.password, host: s.host}, nil
	}
	return nil, fmt.Errorf("the server offers AUTH %s; this plugin speaks PLAIN and LOGIN", params)
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login), which
// some servers offer instead of PLAIN: the username and the password, each
// in answer to a prompt.
type loginAuth struct {
	username, password, host string
}

func (a *loginAuth) Start(server *netsmtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLocalhost(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(prompt []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch p := strings.ToLower(strings.TrimSpace(string(prompt))); {
	case strings.HasPrefix(p, "username"), strings.HasPrefix(p, "user name"):
		return []byte(a.username), nil
	case strings.HasPrefix(p, "password"):
		return []byte(a.password), nil
	default:
		return nil, fmt.Errorf("unexpected LOGIN prompt %q", prompt)
	}
}

// timedOut reports whether err is a network timeout, such as the
// connection's deadline passing.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
