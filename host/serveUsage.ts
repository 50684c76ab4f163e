/**
 * `paypad serve --help`: in a module of its own, without the host's dependencies, so the CLI can
 * print it without loading the host (bin/commands/serve.ts) and runServe prints the same text.
 */
export const SERVE_USAGE = `Usage: paypad serve [--host ADDR] [--port N] [--data-dir DIR]

Runs the paypad host until SIGINT or SIGTERM: the HTTP app, MTMS, a KMS per customer whose KMS
address is this machine, and the CA, in one process.
  --host ADDR      address every listener uses (PAYPAD_HOST, default 127.0.0.1)
  --port N         the HTTP app's port, 0 for any free port (PAYPAD_PORT, default 8780)
  --data-dir DIR   where the SQLite database, the CA and the key files live (PAYPAD_DATA_DIR, default ./data)
Also read from the environment:
  PAYPAD_MTMS_PORT      MTMS's mutual-TLS port (default 8781; 0 = any free port)
  PAYPAD_KMS_BASE_PORT  the demo customers' KMS ports start here (default 8790); 0 = every KMS on
                        any free port
  PAYPAD_DEMO_DATA      1 adds two demo customers, serials and an operator certificate to an empty
                        database, 0 never (default 1 on SQLite, 0 on PostgreSQL)
  DATABASE_URL          postgres://... for PostgreSQL; unset for SQLite
  LOG_LEVEL             fatal, error, warn, info, debug, trace, silent (default info)
  PAYPAD_HEADERS_TIMEOUT_MS  every listener: TLS handshake, then request line and headers (default 10000)
  PAYPAD_REQUEST_TIMEOUT_MS  every listener: the whole request, body included (default 30000)
  PAYPAD_IDLE_TIMEOUT_MS     every listener: an idle keep-alive connection (default 5000)
  PAYPAD_MAX_CONNECTIONS     every listener: open connections at most (default 512)`;
