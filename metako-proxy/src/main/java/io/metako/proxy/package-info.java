/**
 * The PostgreSQL-protocol proxy: framing, typed messages, session state machine, routing and
 * load balancing. It knows nothing of Raft: the server feeds it an immutable routing table on
 * every applied topology change (see docs/architecture.md). The codec and router land with the
 * proxy issue; this module already sits in the build so the dependency direction
 * (server -> proxy, never back) holds from the start.
 */
package io.metako.proxy;
