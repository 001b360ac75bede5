"""nn.Modules with flat, typed constructor arguments. They never see a recipe."""
