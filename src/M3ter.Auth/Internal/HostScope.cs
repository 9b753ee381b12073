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
        _apiPrefix = api.GetLeftPart(UriPartial.Authority) + "/";
        _ingestPrefix = ingest.GetLeftPart(UriPartial.Authority) + "/";
    }

    // "https://api.m3ter.com/": an address written with exactly this start can only have this scheme, host and port
    // (the authority ends at the slash). Addresses HttpClient builds from a BaseAddress are written this way.
    private readonly string _apiPrefix;
    private readonly string _ingestPrefix;

    public string ApiScheme { get; }

    public string ApiHost { get; }

    public int ApiPort { get; }

    public string IngestScheme { get; }

    public string IngestHost { get; }

    public int IngestPort { get; }

    /// <summary>
    /// Whether the request goes to m3ter. First the cheap test: the address as written starts with the canonical
    /// "scheme://host[:port]/" of one of the hosts. Otherwise (upper case, an explicit default port, another host) the
    /// parsed parts decide: <see cref="Uri"/> canonicalizes scheme and host to lower case, so ordinal comparisons are
    /// exact; the port, an integer, is compared first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Matches(Uri? uri)
    {
        if (uri is null || !uri.IsAbsoluteUri)
        {
            return false;
        }

        string written = uri.OriginalString;
        return written.AsSpan().StartsWith(_apiPrefix.AsSpan())
            || written.AsSpan().StartsWith(_ingestPrefix.AsSpan())
            || MatchesParts(uri);
    }

    private bool MatchesParts(Uri uri)
    {
        int port = uri.Port;
        string host = uri.Host;
        return (port == ApiPort && string.Equals(host, ApiHost, StringComparison.Ordinal) && string.Equals(uri.Scheme, ApiScheme, StringComparison.Ordinal))
            || (port == IngestPort && string.Equals(host, IngestHost, StringComparison.Ordinal) && string.Equals(uri.Scheme, IngestScheme, StringComparison.Ordinal));
    }
}
