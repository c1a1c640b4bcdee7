/**
 * The proxy's input: an immutable {@link io.metako.proxy.routing.RoutingTable} the server publishes.
 * The proxy module knows nothing of Raft; the codec, sessions and router land with the proxy issue.
 */
package io.metako.proxy.routing;
