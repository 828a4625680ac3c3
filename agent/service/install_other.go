//go:build !linux && !windows

package service

import "context"

func install(context.Context, Options) error { return ErrUnsupported }

func uninstall(context.Context, Options) error { return ErrUnsupported }
