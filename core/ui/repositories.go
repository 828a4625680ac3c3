package ui

// repositoryRoutes are the repository list and the add form.
func (u *UI) repositoryRoutes() []uiRoute {
	return []uiRoute{}
}
