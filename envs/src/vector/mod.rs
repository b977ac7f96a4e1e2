//! Vector environments (synchronous and threaded) with next-step autoreset.
