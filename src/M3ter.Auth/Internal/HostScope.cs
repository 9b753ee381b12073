using System;
using System.Runtime.CompilerServices;

namespace M3ter.Auth.Internal;

/// <summary>
/// The hosts that get m3ter's token: the API host of <see cref="M3terAuthOptions.BaseAddress"/> and its ingest
/// counterpart (<c>api.</c> replaced by <c>ingest.</c>), on the same scheme and port. Nothing else ever sees it.
/// </summary>
internal sealed class HostScope
{
    public HostScope(M3terAuthOptions options)
    {
        Scheme = options.BaseAddress.Scheme;
        Port = options.BaseAddress.Port;
        ApiHost = options.BaseAddress.Host;
        IngestHost = options.IngestBaseAddress.Host;
    }

    public string Scheme { get; }

    public int Port { get; }

    public string ApiHost { get; }

    public string IngestHost { get; }

    /// <summary>
    /// Whether the request goes to m3ter. <see cref="Uri"/> canonicalizes scheme and host to lower case, so ordinal
    /// comparisons are exact here and several times cheaper than case-insensitive ones on this per-request path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Matches(Uri? uri)
    {
        if (uri is null || !uri.IsAbsoluteUri || uri.Port != Port)
        {
            return false;
        }

        string host = uri.Host;
        return (string.Equals(host, ApiHost, StringComparison.Ordinal) || string.Equals(host, IngestHost, StringComparison.Ordinal))
            && string.Equals(uri.Scheme, Scheme, StringComparison.Ordinal);
    }
}
