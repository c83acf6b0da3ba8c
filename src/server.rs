//! Sockets: UDP and TCP listeners that hand raw queries to an engine.
