using System;

namespace M3ter.Auth.Internal;

/// <summary>
/// The token endpoint's address, <c>{BaseAddress}oauth/token</c>, as a type of its own: the mark by which
/// <see cref="M3terAuthHandler"/> lets token requests through untouched. The token client's own <c>HttpClient</c> may
/// be wrapped by the auth handler (<c>ConfigureHttpClientDefaults(b => b.AddM3terAuthHandler())</c>); without the mark
/// the token request would ask for a token and wait for itself. A type check costs nothing on the hot path, and
/// handlers that clone a request (hedging) keep its <see cref="Uri"/> instance, and so the mark.
/// </summary>
#pragma warning disable CA2229, S3925 // Never serialized: it exists only in this process's requests.
internal sealed class TokenEndpoint(Uri baseAddress) : Uri(baseAddress, "oauth/token")
#pragma warning restore CA2229, S3925
{
}
