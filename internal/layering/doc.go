// Package layering holds the test of the import rules of the design
// (DESIGN.md): web never imports server and server never imports web;
// store imports none of the parts (server, web, retention); the admin
// socket protocol (internal/admin) imports neither server nor web; nothing
// imports package main. The test walks `go list -deps` over the module.
package layering
