using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// After the send: the response waited for, one replay with a fresh token after a refusal, and the caller's Authorization value given back.
public sealed partial class M3terAuthHandler
{
    /// <summary>
    /// Waits for the response (<paramref name="sending"/>, or sends now), replays once after a refusal, and gives the
    /// request back its own <c>Authorization</c> value whatever happens.
    /// </summary>
    private async ValueTask<HttpResponseMessage> CompleteAsync(Task<HttpResponseMessage>? sending, HttpRequestMessage request, SentAs sent, bool async, CancellationToken cancellationToken)
    {
        try
        {
            HttpResponseMessage response = await (sending ?? SendOnceAsync(request, async, cancellationToken)).ConfigureAwait(false);
            if (!Replay.IsRefusal(response))
            {
                return response;
            }

            M3terToken? fresh = await RenewAfterRefusalAsync(response, request, sent, async, cancellationToken).ConfigureAwait(false);
            if (fresh is null)
            {
                return response;
            }

            request.Headers.Authorization = fresh.HeaderValue;
            return NotePermanentRefusal(await SendOnceAsync(request, async, cancellationToken).ConfigureAwait(false), request, fresh);
        }
        finally
        {
            GiveBack(request.Headers, sent.CallersAuthorization);
        }
    }

    /// <summary>A fresh token to replay with after m3ter refused the one sent, or null when the refusal stands (see <see cref="Replay"/>).</summary>
    private async ValueTask<M3terToken?> RenewAfterRefusalAsync(HttpResponseMessage response, HttpRequestMessage request, SentAs sent, bool async, CancellationToken cancellationToken)
    {
        M3terToken token = sent.Token;
        if (!Replay.MayRenew(token, _timeProvider) || ReplayRoute(request, sent, response) is not AuthRoute replay)
        {
            return null;
        }

        Invalidate(token, sent.Route, replay);
        M3terToken fresh;
        try
        {
            fresh = await TokenAsync(AskForToken(replay.Provider, cancellationToken), async).ConfigureAwait(false);
        }
        catch (M3terAuthException moved) when (moved.ForOtherHosts)
        {
            return null; // the tenant's credentials now belong to other hosts: m3ter's refusal stands, nothing is replayed
        }
        catch
        {
            response.Dispose();
            throw;
        }

        return PrepareReplay(response, request, token, fresh);
    }

    /// <summary>
    /// Tells the provider that issued the token, and the one the replay asks (a reload may have replaced the first,
    /// and the new one may have taken the same token over), that m3ter refused it.
    /// </summary>
    private static void Invalidate(M3terToken token, AuthRoute issuer, AuthRoute replay)
    {
        issuer.Provider.Invalidate(token);
        if (!ReferenceEquals(replay.Provider, issuer.Provider))
        {
            replay.Provider.Invalidate(token);
        }
    }

    /// <summary>
    /// Whether the request is still the one that carried the token to m3ter. The primary handler follows redirects
    /// below this handler, rewriting the request's address (and, for a 303, its method and body) and dropping its
    /// token: a refusal then came from the redirect target, and a replay would put a fresh token on a request for
    /// another host. The scope is checked again too, since a reload may have moved it: the route returned (hosts and
    /// provider read as one snapshot) is where the fresh token comes from, or null when there is no replay.
    /// </summary>
    private AuthRoute? ReplayRoute(HttpRequestMessage request, SentAs sent, HttpResponseMessage response)
    {
        AuthRoute route = _tenants is null ? Route : sent.Route; // a tenant's renewal goes through the tenant cache
        if (sent.IsUnchanged(request) && route.Scope.Matches(request.RequestUri))
        {
            return route;
        }

        Log.RefusalAfterRedirect(_logger, response.StatusCode, request.RequestUri?.Host ?? "(none)");
        return null;
    }

    /// <summary>Returns the token to replay with, or null (keeping the refusal) when the provider had no other token to give.</summary>
    private M3terToken? PrepareReplay(HttpResponseMessage response, HttpRequestMessage request, M3terToken token, M3terToken fresh)
    {
        if (ReferenceEquals(fresh, token))
        {
            return null;
        }

        Log.ReplayingWithFreshToken(_logger, response.StatusCode, request.Method.Method, request.RequestUri!.Host, request.RequestUri.AbsolutePath);
        M3terAuthDiagnostics.Replays.Add(1, new System.Collections.Generic.KeyValuePair<string, object?>("server.address", request.RequestUri.Host));
        response.Dispose();
        return fresh;
    }

    private HttpResponseMessage NotePermanentRefusal(HttpResponseMessage replayed, HttpRequestMessage request, M3terToken fresh)
    {
        if (Replay.IsRefusal(replayed))
        {
            Replay.NoteRefusedAfterReplay(fresh, _timeProvider);
            Log.PermanentRejection(_logger, replayed.StatusCode, request.Method.Method, request.RequestUri!.Host, request.RequestUri.AbsolutePath, Replay.PermanentRejectionCooldown);
        }

        return replayed;
    }
}
