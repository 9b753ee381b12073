using System;
using System.Runtime.CompilerServices;

namespace M3ter.Auth.Internal;

/// <summary>
/// The hosts that get m3ter's token: the API host of <see cref="M3terAuthOptions.BaseAddress"/> and the ingest host of
/// <see cref="M3terAuthOptions.IngestBaseAddress"/>, each with its own scheme and port. Nothing else ever sees it.
/// </summary>
internal sealed class HostScope
{
    public HostScope(M3terAuthOptions options)
    {
        Uri api = options.BaseAddress;
        Uri ingest = options.IngestBaseAddress;
        ApiScheme = api.Scheme;
        ApiHost = api.Host;
        ApiPort = api.Port;
        IngestScheme = ingest.Scheme;
        IngestHost = ingest.Host;
        IngestPort = ingest.Port;
    }

    public string ApiScheme { get; }

    public string ApiHost { get; }

    public int ApiPort { get; }

    public string IngestScheme { get; }

    public string IngestHost { get; }

    public int IngestPort { get; }

    /// <summary>
    /// Whether the request goes to m3ter. <see cref="Uri"/> canonicalizes scheme and host to lower case, so ordinal
    /// comparisons are exact here and several times cheaper than case-insensitive ones on this per-request path; the
    /// port, an integer, is compared first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Matches(Uri? uri)
    {
        if (uri is null || !uri.IsAbsoluteUri)
        {
            return false;
        }

        int port = uri.Port;
        string host = uri.Host;
        return (port == ApiPort && string.Equals(host, ApiHost, StringComparison.Ordinal) && string.Equals(uri.Scheme, ApiScheme, StringComparison.Ordinal))
            || (port == IngestPort && string.Equals(host, IngestHost, StringComparison.Ordinal) && string.Equals(uri.Scheme, IngestScheme, StringComparison.Ordinal));
    }
}
