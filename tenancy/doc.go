// Package tenancy holds tenants and API keys: the keys declared in the
// configuration and those created at run time (stored in the database), the
// in-memory directory every request authenticates against, and the service
// the admin API and the CLI share to create, list and revoke them.
//
// A key is 32 random bytes, shown once when created ("sk-sb-" + base64url).
// Only its SHA-256 digest is stored; a request's key is looked up by its
// digest, so the time a lookup takes depends on the digest, never on how
// much of a guessed key was right. Every replica polls the store's
// tenants version (twice a second by default) and swaps in a new directory
// when it changed, so a revoked key stops working everywhere within a
// second.
package tenancy
