using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Threading;

namespace M3ter.Auth.Internal;

/// <summary>
/// When <see cref="M3terAuthHandler"/> replays a refused request with a fresh token: the answer is a refusal (401 or
/// 403), the token is one that can be renewed and is not in its cooldown, and the request is still the one that
/// carried it (<see cref="SentAs"/>: no redirect rewrote it).
/// </summary>
internal static class Replay
{
    /// <summary>Tokens whose replay was refused, with when: every handler and provider sharing a token shares its cooldown.</summary>
    private static readonly ConditionalWeakTable<M3terToken, RefusedAt> RefusedAfterReplay = new();

    /// <summary>How long a token whose fresh replay was refused is trusted to be refused for other reasons (a permission, not its age).</summary>
    public static readonly TimeSpan PermanentRejectionCooldown = TimeSpan.FromMinutes(1);

    /// <summary>Whether m3ter refused the request's token: it answers 403, not 401, for an expired one.</summary>
    public static bool IsRefusal(HttpResponseMessage response) =>
        response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;

    /// <summary>Whether a refusal of <paramref name="token"/> may be an expired or revoked token, worth a fresh one.</summary>
    public static bool MayRenew(M3terToken token, TimeProvider timeProvider)
    {
        if (token.IsStatic)
        {
            return false; // a pre-issued token has no replacement: m3ter's refusal is the answer
        }

        return !RefusedAfterReplay.TryGetValue(token, out RefusedAt? refused)
            || timeProvider.GetUtcNow().UtcTicks - Volatile.Read(ref refused.Ticks) >= PermanentRejectionCooldown.Ticks;
    }

    /// <summary>The replay with <paramref name="fresh"/> was refused too: a permission, most likely; its refusals stand for the cooldown.</summary>
    public static void NoteRefusedAfterReplay(M3terToken fresh, TimeProvider timeProvider) =>
        Volatile.Write(ref RefusedAfterReplay.GetValue(fresh, static _ => new RefusedAt()).Ticks, timeProvider.GetUtcNow().UtcTicks);

    /// <summary>When a token's replay was last refused: kept beside the token, not on it (the token is immutable), and only as long as the token lives.</summary>
    private sealed class RefusedAt
    {
        public long Ticks;
    }
}

/// <summary>
/// The request as it was sent with a token: a replay requires the same address (the same <see cref="Uri"/>
/// instance: a redirect to an address that <see cref="Uri.Equals(object)"/> calls equal, differing in case, an
/// explicit default port or a fragment, is still a redirect), the token still on it (a redirect takes it off), the
/// same method, and a body if it had one. A redirect changes the address (a 303 also the method, dropping the body);
/// a handler below this one that only rewrites the body (compression, signing) changes none of these, and its
/// refusals are still recovered.
/// </summary>
internal readonly struct SentAs(Uri uri, HttpMethod method, HttpContent? content, AuthRoute route, M3terToken token, AuthenticationHeaderValue? callersAuthorization)
{
    /// <summary>Gets the route whose provider issued the token the request carried: the one to tell it was refused.</summary>
    public AuthRoute Route { get; } = route;

    /// <summary>Gets the token the request was sent with.</summary>
    public M3terToken Token { get; } = token;

    /// <summary>Gets the <c>Authorization</c> value the request came with, given back when the handler returns.</summary>
    public AuthenticationHeaderValue? CallersAuthorization { get; } = callersAuthorization;

    public bool IsUnchanged(HttpRequestMessage request) =>
        ReferenceEquals(request.RequestUri, uri)
        && ReferenceEquals(request.Headers.Authorization, Token.HeaderValue)
        && request.Method == method
        && (content is null || request.Content is not null);
}
