using System;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.Tenants;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M3ter.Auth;

/// <summary>
/// A <see cref="DelegatingHandler"/> that attaches <c>Authorization: Bearer …</c> to every request for m3ter's API and
/// ingest hosts, and replays a request once with a fresh token when m3ter refuses its token with 401 or 403.
/// </summary>
/// <remarks>
/// <para>Requests to any other host pass through untouched, except that this registration's token is taken off. If no
/// token can be obtained the request is not sent and <see cref="M3terAuthException"/> is thrown: nothing goes to m3ter
/// without a token.</para>
/// <para>The token is on the request only while it is being sent: once <c>SendAsync</c> or <c>Send</c> returns, normally,
/// by an exception or cancelled, the request carries the <c>Authorization</c> value it came with (none, usually). So a
/// request that an outer handler sends again to another host (a retry that moves it to a fallback, a mirror), or that
/// is printed later (<c>response.RequestMessage</c> in a log or an exception), does not carry the token.</para>
/// <para>m3ter answers 403 both for an expired token and for a missing permission. When a request replayed with a
/// fresh token is refused again, the refusal is taken to be about permissions: for the next minute, further 401/403
/// answers to that token are returned to the caller as they are, without forcing new tokens.</para>
/// <para>Request content that cannot be read twice (a stream, for example) is buffered before it is sent, so the
/// replay carries the identical body.</para>
/// <para>A request is replayed only as it was sent. When the primary handler followed a redirect (which rewrites the
/// request's address, and for a 303 its method and body), the refusal came from the redirect target, not from m3ter
/// about this token: the response is returned as it is and no token is put on the rewritten request.</para>
/// <para>A handler below this one (added after it) sees a replay as a second call with the same request: one that
/// rewrites the body, such as compression or signing, must be able to do so again from the request's content.</para>
/// <para>The library's own token requests pass through untouched, so wrapping every client, the token client included
/// (<c>ConfigureHttpClientDefaults(b =&gt; b.AddM3terAuthHandler())</c>), is safe.</para>
/// </remarks>
public sealed partial class M3terAuthHandler : DelegatingHandler
{
    private readonly AuthRoute? _fixedRoute;
    private readonly M3terAuthRegistration? _registration;
    private readonly TenantCache? _tenants;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance of the <see cref="M3terAuthHandler"/> class.</summary>
    /// <param name="tokenProvider">Where tokens come from.</param>
    /// <param name="options">The options whose <see cref="M3terAuthOptions.BaseAddress"/> decides which hosts get the token.</param>
    /// <param name="logger">Where to log; nothing by default.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tokenProvider"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> is not valid; the message names the setting.</exception>
    public M3terAuthHandler(ITokenProvider tokenProvider, M3terAuthOptions options, ILogger<M3terAuthHandler>? logger = null, TimeProvider? timeProvider = null)
        : this(logger, timeProvider)
    {
        if (tokenProvider is null)
        {
            throw new ArgumentNullException(nameof(tokenProvider));
        }

        _fixedRoute = new AuthRoute(new HostScope(M3terAuthOptionsValidator.ValidatedCopy(options, nameof(options))), tokenProvider);
    }

    /// <summary>For <c>AddM3terAuthHandler</c>: the hosts follow the registration's current options.</summary>
    internal M3terAuthHandler(M3terAuthRegistration registration, ILogger? logger, TimeProvider? timeProvider)
        : this(logger, timeProvider)
    {
        _registration = registration;
    }

    /// <summary>For <c>AddM3terTenantAuthHandler</c>: the hosts and the token follow the tenant each request is tagged with.</summary>
    internal M3terAuthHandler(TenantCache tenants, ILogger? logger, TimeProvider? timeProvider)
        : this(logger, timeProvider)
    {
        _tenants = tenants;
    }

    private M3terAuthHandler(ILogger? logger, TimeProvider? timeProvider)
    {
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Gets the hosts and the provider for one request, read together (see <see cref="AuthRoute"/>).</summary>
    private AuthRoute Route => _fixedRoute ?? _registration!.Route;

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            throw new ArgumentNullException(nameof(request));
        }

        Uri? uri = request.RequestUri;
        AuthRoute route;
        if (_tenants is null)
        {
            route = Route;
        }
        else if (TenantRoute(request) is AuthRoute held)
        {
            route = held;
        }
        else
        {
            return SendForTenantAsync(request, cancellationToken); // a tenant to look up, or none
        }

        if (!route.Scope.Matches(uri) || uri is TokenEndpoint)
        {
            TakeOwnTokenOff(request, route);
            return base.SendAsync(request, cancellationToken);
        }

        // The warm path: our provider (it always is with AddM3terAuth) has a fresh token, read with one flag and no
        // interface dispatch, and the body can be sent twice. Everything else is kept out of this method, so that its
        // frame stays small.
        if (route.Cache is TokenProvider provider && provider.FreshToken is { } token && IsReplayable(request.Content))
        {
            return SendWithToken(request, uri!, route, token, cancellationToken);
        }

        return SendWithoutFreshToken(request, uri!, route, cancellationToken);
    }

    /// <summary>Sends with a token in hand and a replayable body; no state machine unless m3ter refuses the token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Task<HttpResponseMessage> SendWithToken(HttpRequestMessage request, Uri uri, AuthRoute route, M3terToken token, CancellationToken cancellationToken)
    {
        HttpRequestHeaders headers = request.Headers;
        AuthenticationHeaderValue? callers = CallersAuthorization(headers);
        HttpMethod method = request.Method; // as sent: a redirect below may rewrite the request
        HttpContent? content = request.Content;
        headers.Authorization = token.HeaderValue;
        Task<HttpResponseMessage> sending = SendOnce(request, callers, cancellationToken);
        if (IsCompletedSuccessfully(sending) && !Replay.IsRefusal(sending.Result))
        {
            GiveBack(headers, callers);
            return sending;
        }

        return CompleteAsync(sending, request, new SentAs(uri, method, content, route, token, callers), cancellationToken);
    }

    // The two ways off the warm path return a Task from a method of their own: a ValueTask (and its AsTask call) in
    // SendAsync, which inlines SendWithToken, would be a struct local its prologue zeroes on every call.

    /// <summary>A request for a tenant that is not held (its credentials are looked up first), or for none.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Task<HttpResponseMessage> SendForTenantAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        SendCoreAsync(request, async: true, cancellationToken).AsTask();

    /// <summary>The warm path's send did not complete at once, or was refused: wait, and replay if need be.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Task<HttpResponseMessage> CompleteAsync(Task<HttpResponseMessage> sending, HttpRequestMessage request, SentAs sent, CancellationToken cancellationToken) =>
        CompleteAsync(sending, request, sent, async: true, cancellationToken).AsTask();

    /// <summary>
    /// Sends the request on; a handler below that throws instead of returning a faulted task leaves no token behind.
    /// (A method of its own: the JIT does not inline one with a try block, and the warm path around it stays inlined.)
    /// </summary>
    private Task<HttpResponseMessage> SendOnce(HttpRequestMessage request, AuthenticationHeaderValue? callers, CancellationToken cancellationToken)
    {
        try
        {
            return base.SendAsync(request, cancellationToken);
        }
        catch
        {
            GiveBack(request.Headers, callers);
            throw;
        }
    }

    /// <summary>
    /// Gives the request back the <c>Authorization</c> value it came with. Not inlined: the header setter is large (about
    /// 850 bytes of machine code), and the warm path, inlined into <c>SendAsync</c>, would otherwise hold it twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void GiveBack(HttpRequestHeaders headers, AuthenticationHeaderValue? callers) => headers.Authorization = callers;

    /// <summary>
    /// The <c>Authorization</c> value a request came with, unless this handler (or another instance of it) set it; none
    /// without a header at all, which is known without looking the header up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static AuthenticationHeaderValue? CallersAuthorization(HttpRequestHeaders headers) =>
#if NET6_0_OR_GREATER
        headers.NonValidated.Count == 0 ? null :
#endif
        headers.Authorization is AuthenticationHeaderValue value and not M3terBearerHeaderValue ? value : null;

    /// <summary>
    /// A request leaving for a host out of scope keeps no token of this registration's (one set on the same message by a
    /// send still in flight, for example). Another registration's token is left alone: an outer handler for another
    /// registration, whose hosts these are not, set it for its own host.
    /// </summary>
    private static void TakeOwnTokenOff(HttpRequestMessage request, AuthRoute route)
    {
        if (request.Headers.Authorization is M3terBearerHeaderValue value
            && route.Cache is TokenProvider provider
            && ReferenceEquals(provider.Replaceable().ValidToken(out _)?.HeaderValue, value))
        {
            request.Headers.Authorization = null;
        }
    }

    /// <summary>The route of the tenant the request is tagged with, when that tenant is held; null otherwise (no tenant, or one to look up).</summary>
    private AuthRoute? TenantRoute(HttpRequestMessage request) =>
        M3terHttpRequestMessageExtensions.TenantOf(request) is string tenant && _tenants!.TryGetHeld(tenant, out TenantState state) ? state.Route : null;

    private static M3terAuthException NoTenant() =>
        new("The request has no m3ter tenant, so it was not sent: a client with AddM3terTenantAuthHandler() needs every request tagged with request.WithM3terTenant(tenant).");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Task<HttpResponseMessage> SendWithoutFreshToken(HttpRequestMessage request, Uri uri, AuthRoute route, CancellationToken cancellationToken)
    {
        ValueTask<M3terToken> pending = AskForToken(route.Provider, cancellationToken);
        if (pending.IsCompletedSuccessfully && IsReplayable(request.Content))
        {
            return SendWithToken(request, uri, route, pending.Result, cancellationToken);
        }

        return SendAuthorizedAsync(request, uri, route, pending, async: true, cancellationToken).AsTask();
    }

    /// <summary>
    /// Everything but the async warm path, for both APIs (as Azure.Core's pipeline does it): the route (a tenant looked
    /// up if need be), then the token, the buffering, the send and one replay. With <paramref name="async"/> false
    /// nothing is awaited that is not complete: the synchronous <c>Send</c> takes the completed result.
    /// </summary>
    private async ValueTask<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken)
    {
        AuthRoute route = _tenants is null ? Route : TenantRoute(request) ?? (await TenantStateAsync(request, async, cancellationToken).ConfigureAwait(false)).Route;
        Uri? uri = request.RequestUri;
        if (!route.Scope.Matches(uri) || uri is TokenEndpoint)
        {
            TakeOwnTokenOff(request, route);
            return await SendOnceAsync(request, async, cancellationToken).ConfigureAwait(false);
        }

        return await SendAuthorizedAsync(request, uri!, route, AskForToken(route.Provider, cancellationToken), async, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The tenant's held state, its credentials looked up first if need be; a request without a tenant is not sent.</summary>
    private ValueTask<TenantState> TenantStateAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken)
    {
        string tenant = request.GetM3terTenant() ?? throw NoTenant();
        return async ? new ValueTask<TenantState>(_tenants!.GetStateAsync(tenant, cancellationToken)) : new ValueTask<TenantState>(WaitForState(_tenants!.GetStateAsync(tenant, cancellationToken)));
    }

    /// <summary>With the route known and the token asked for: waits for it, makes the body replayable, and sends.</summary>
    private async ValueTask<HttpResponseMessage> SendAuthorizedAsync(HttpRequestMessage request, Uri uri, AuthRoute route, ValueTask<M3terToken> pending, bool async, CancellationToken cancellationToken)
    {
        M3terToken token = await TokenAsync(pending, async).ConfigureAwait(false);
        if (!IsReplayable(request.Content))
        {
            if (async)
            {
                await LoadIntoBuffer(request.Content!, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                WaitForBuffer(LoadIntoBuffer(request.Content!, cancellationToken));
            }
        }

        var sent = new SentAs(uri, request.Method, request.Content, route, token, CallersAuthorization(request.Headers));
        request.Headers.Authorization = token.HeaderValue;
        return await CompleteAsync(sending: null, request, sent, async, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The token <paramref name="pending"/> promises, waited for the way the API in use waits; any failure is an <see cref="M3terAuthException"/>.</summary>
    private static ValueTask<M3terToken> TokenAsync(ValueTask<M3terToken> pending, bool async) =>
        pending.IsCompletedSuccessfully ? pending
        : async ? new ValueTask<M3terToken>(AwaitToken(pending))
        : new ValueTask<M3terToken>(WaitForToken(AwaitToken(pending)));

    /// <summary>Sends the request on through the API in use.</summary>
    private Task<HttpResponseMessage> SendOnceAsync(HttpRequestMessage request, bool async, CancellationToken cancellationToken) =>
        async ? base.SendAsync(request, cancellationToken) : Task.FromResult(SendSynchronously(request, cancellationToken));

#if NET5_0_OR_GREATER
    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            throw new ArgumentNullException(nameof(request));
        }

        // The synchronous API is synchronous all the way: when a token must be fetched (or a tenant looked up, or a
        // body buffered), this thread waits for it, so the core below completes before it returns.
        ValueTask<HttpResponseMessage> sending = SendCoreAsync(request, async: false, cancellationToken);
        System.Diagnostics.Debug.Assert(sending.IsCompleted, "the synchronous path never awaits anything incomplete");
        return sending.GetAwaiter().GetResult();
    }

    private HttpResponseMessage SendSynchronously(HttpRequestMessage request, CancellationToken cancellationToken) => base.Send(request, cancellationToken);

    private static M3terToken WaitForToken(Task<M3terToken> task) => task.GetAwaiter().GetResult();

    private static TenantState WaitForState(Task<TenantState> task) => task.GetAwaiter().GetResult();

    private static void WaitForBuffer(Task task) => task.GetAwaiter().GetResult();
#else
    // Before .NET 5 there is no synchronous Send: every call above passes async: true, and these are never reached.
#pragma warning disable CA1822 // Instance on .NET 5+, where it calls base.Send.
    private HttpResponseMessage SendSynchronously(HttpRequestMessage request, CancellationToken cancellationToken) => throw new PlatformNotSupportedException();
#pragma warning restore CA1822

    private static M3terToken WaitForToken(Task<M3terToken> task) => throw new PlatformNotSupportedException();

    private static TenantState WaitForState(Task<TenantState> task) => throw new PlatformNotSupportedException();

    private static void WaitForBuffer(Task task) => throw new PlatformNotSupportedException();
#endif
}
