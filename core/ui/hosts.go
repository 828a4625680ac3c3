package ui

// hostRoutes are the host pages: the host list's live parts, one host's overview, snapshots and jobs, run-now.
func (u *UI) hostRoutes() []uiRoute {
	return []uiRoute{}
}
