package ui

// adminRoutes are users, API tokens, enrollment (add host) and the audit log.
func (u *UI) adminRoutes() []uiRoute {
	return []uiRoute{}
}
