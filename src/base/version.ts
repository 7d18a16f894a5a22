/** The tlsboot version, reported by `--version` and the server's /version. */
export const VERSION = '0.1.0';
