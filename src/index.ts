/**
 * ferrymq's public API: the client, the embeddable node, the config loader and the error classes.
 */
export { connect, Connection } from './client/connection.js';
export type { ConnectOptions, ConnectionStatus, SendOptions } from './client/connection.js';
export type { TlsClientOptions } from './transport/tls.js';
export { hashPassword } from './security/passwords.js';
export { Message } from './client/message.js';
export type { Body, BrowsedMessage } from './client/message.js';
export { Subscription } from './client/subscription.js';
export type { SubscribeOptions } from './client/subscription.js';
export { FerryNode } from './node/ferry-node.js';
export type { Service } from './node/service.js';
export type { AuthenticateHook, AuthorizeAction, AuthorizeHook, BrokerHooks, Credentials, Principal } from './broker/hooks.js';
export type { FlowListener, Session, SessionOptions } from './broker/session.js';
export { defaultConfig, loadConfigFile, parseConfig } from './config/config.js';
export type { BrokerConfig, ConfigOverrides } from './config/config.js';
export { parseClientUri, parseEndpointUri, parseNetworkUri } from './transport/uri.js';
export * from './errors.js';
export type { AckMode, BrokerInfo, DestinationStats, NodeRole, Headers } from './protocol/commands.js';
export { VERSION } from './version.js';
