namespace M3ter.Auth.Tool;

internal static class Help
{
    public const string Text = """
        m3ter-auth: m3ter Service Authentication from the command line, through M3ter.Auth.

        Usage:
          m3ter-auth token [--header] [options]   print a bearer token (only the token, on stdout), for curl and Postman
          m3ter-auth check [options]              ask for a token and print what it says (never the token itself)
          m3ter-auth emulator [emulator options]  run the m3ter emulator on loopback until Ctrl+C
          m3ter-auth --version | --help

        Credentials come from M3TER_API_KEY and M3TER_API_SECRET (or M3TER_API_TOKEN, a pre-issued token), the address
        from M3TER_BASE_URL (default https://api.m3ter.com/); a flag wins over its variable. A secret given as a flag is
        visible to other users of the machine in its process list: prefer the variable.
          --key ID           access key id (M3TER_API_KEY)
          --secret SECRET    API secret (M3TER_API_SECRET)
          --base-url URL     m3ter's API address (M3TER_BASE_URL)
          --org ID           organization id (M3TER_ORG_ID), shown by check
          --timeout SECONDS  per token request (default 10)
          --retries N        retries of a transient failure (default 3)
          --header           token: print the whole line, "Authorization: Bearer <token>"

        Emulator options:
          --api-port N  --ingest-port N  --key K  --secret S  --org O  --token-lifetime SECONDS  --no-rate-limit

        Exit codes: 0 ok; 1 other failure; 2 bad configuration or arguments (check given a pre-issued token, which only a
        call can check); 3 credentials refused (or the pre-issued token expired); 4 token endpoint unreachable or timed
        out; 5 token endpoint failed (5xx, 429, a redirect, not a token); 130 cancelled.
        A value that starts with -- is given as --flag=VALUE. Arguments that are not understood are never echoed.

        Examples:
          curl -H "$(m3ter-auth token --header)" https://api.m3ter.com/organizations/$M3TER_ORG_ID/meters
          m3ter-auth check && echo "credentials work"

        """;
}
