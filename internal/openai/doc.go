// Package openai holds the wire contract moat speaks: Azure OpenAI and OpenAI
// request fields the gateway must read, usage accounting, server-sent events,
// operations, and Azure's error envelopes reproduced byte for byte.
//
// It is a leaf: it imports nothing of moat's, so every other package can
// depend on it. The exact strings come from ../shared/reference/azure-openai-wire.md;
// each error constructor names the section it reproduces.
package openai
