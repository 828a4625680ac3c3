package ui

// jobRoutes are the job page: live log viewer, progress, summary, cancel, log download.
func (u *UI) jobRoutes() []uiRoute {
	return []uiRoute{}
}
