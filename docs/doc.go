// Package docs holds lagwatch's reference pages (*.md), linked from the
// README's map of them.
//
// The package has no code. Its test checks the README and every page here:
// each relative link names a file that exists, each #anchor a heading of
// its file, the README's map links every page, and the README stays short.
// It imports nothing of lagwatch.
package docs
