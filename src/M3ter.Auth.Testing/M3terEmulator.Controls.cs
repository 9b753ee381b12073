using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Testing;

// The emulator's test controls: credentials, faults, revocation, permissions, and waiting for requests.
public sealed partial class M3terEmulator
{
    /// <summary>Accepts another access key (as after generating a new key in m3ter).</summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <param name="apiSecret">Its secret.</param>
    public void AddCredentials(string accessKeyId, string apiSecret) => _credentials[accessKeyId] = (apiSecret, OrganizationId);

    /// <summary>
    /// Accepts an access key of another organization: its tokens are accepted only under
    /// <c>/organizations/{organizationId}</c> (403 elsewhere, as m3ter answers a token of another organization), so an
    /// application acting for several organizations can be checked for sending one's token with another's request.
    /// </summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <param name="apiSecret">Its secret.</param>
    /// <param name="organizationId">The organization the key belongs to.</param>
    public void AddCredentials(string accessKeyId, string apiSecret, string organizationId) => _credentials[accessKeyId] = (apiSecret, organizationId);

    /// <summary>Stops accepting an access key (as after marking it inactive in m3ter). Tokens already issued stay valid.</summary>
    /// <param name="accessKeyId">The key id.</param>
    public void RemoveCredentials(string accessKeyId) => _credentials.TryRemove(accessKeyId, out _);

    /// <summary>Queues a fault for the next token request, or the next one made with <paramref name="accessKeyId"/>; queued faults are used once each, in order, a key's own before the general ones.</summary>
    /// <param name="fault">The fault.</param>
    /// <param name="accessKeyId">Only requests with this access key get it; any request when null.</param>
    public void EnqueueTokenFault(M3terFault fault, string? accessKeyId = null)
    {
        ArgumentNullException.ThrowIfNull(fault);
        (accessKeyId is null ? _tokenFaults : _keyTokenFaults.GetOrAdd(accessKeyId, _ => new ConcurrentQueue<M3terFault>())).Enqueue(fault);
    }

    /// <summary>Queues a fault for the next request to the config API (<see cref="M3terRequestKind.Config"/>) or the ingest API (<see cref="M3terRequestKind.Ingest"/>), as a gateway in front of it would inject it: before the token is checked.</summary>
    /// <param name="api">Which API.</param>
    /// <param name="fault">The fault.</param>
    /// <exception cref="ArgumentException"><paramref name="api"/> is not Config or Ingest.</exception>
    public void EnqueueApiFault(M3terRequestKind api, M3terFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        (api switch
        {
            M3terRequestKind.Config => _configFaults,
            M3terRequestKind.Ingest => _ingestFaults,
            _ => throw new ArgumentException("Faults can be queued for the Config and Ingest APIs; use EnqueueTokenFault for the token endpoint.", nameof(api)),
        }).Enqueue(fault);
    }

    /// <summary>Revokes a token: requests that carry it get <see cref="InvalidTokenStatusCode"/> from now on.</summary>
    /// <param name="accessToken">The token.</param>
    public void RevokeToken(string accessToken) => _revoked[accessToken] = true;

    /// <summary>Revokes every token issued more than <paramref name="age"/> ago, as a key deactivation or a token revocation would.</summary>
    /// <param name="age">How old a token must be to be revoked.</param>
    /// <returns>How many tokens were newly revoked.</returns>
    public int RevokeTokensOlderThan(TimeSpan age)
    {
        DateTimeOffset cutoff = _options.TimeProvider.GetUtcNow() - age;
        return Revoke(t => t.IssuedAt <= cutoff);
    }

    /// <summary>Revokes every token issued to one access key, leaving other keys' tokens valid.</summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <returns>How many tokens were newly revoked.</returns>
    public int RevokeTokensOf(string accessKeyId) => Revoke(t => string.Equals(t.AccessKeyId, accessKeyId, StringComparison.Ordinal));

    /// <summary>Revokes every token issued so far.</summary>
    public void RevokeAllTokens() => Revoke(_ => true);

    /// <summary>
    /// Creates a pre-issued token the emulator accepts, as for <c>M3TER_API_TOKEN</c>: a JWT whose <c>exp</c> claim is
    /// <paramref name="lifetime"/> from now (unsigned: the emulator checks it by value, as an opaque token).
    /// </summary>
    /// <param name="lifetime">How long the token is valid.</param>
    /// <returns>The token.</returns>
    public string CreatePreIssuedToken(TimeSpan lifetime)
    {
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        DateTimeOffset expiresAt = now + lifetime;
        static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        string token = Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Encode(string.Create(CultureInfo.InvariantCulture, $"{{\"sub\":\"{AccessKeyId}\",\"exp\":{expiresAt.ToUnixTimeSeconds()}}}")) + "." + NewToken();
        _tokens[token] = new IssuedToken(now, expiresAt, AccessKeyId, PreIssued: true);
        return token;
    }

    /// <summary>
    /// Makes every request whose path (after <c>/organizations/{orgId}</c>) is <paramref name="path"/> or below it get
    /// 403, whatever its token: a permission m3ter denies. Paths match whole segments: <c>/plan</c> does not deny
    /// <c>/plans</c>.
    /// </summary>
    /// <param name="path">For example <c>/products</c>.</param>
    public void DenyPermission(string path) => _deniedPaths[NormalizePath(path)] = true;

    /// <summary>Undoes <see cref="DenyPermission"/> for <paramref name="path"/>.</summary>
    /// <param name="path">The path given to <see cref="DenyPermission"/>.</param>
    public void AllowPermission(string path) => _deniedPaths.TryRemove(NormalizePath(path), out _);

    /// <summary>Forgets the recorded requests and measurements, and sets the request counters back to zero.</summary>
    public void ClearRequests()
    {
        _requests.Clear();
        _measurements.Clear();
        Volatile.Write(ref _tokenRequests, 0);
        Volatile.Write(ref _tokensIssued, 0);
        Volatile.Write(ref _apiRequests, 0);
        Volatile.Write(ref _apiRequestsWithoutToken, 0);
        Volatile.Write(ref _apiRequestsRefused, 0);
    }

    /// <summary>
    /// Returns the emulator to how it started, for a fixture shared across tests: clears requests, measurements and
    /// counters, queued and persistent faults, the transient failure rate, denied paths, revocations and the rate
    /// limits' counts; restores the token lifetime, the invalid-token status and the credentials it started with
    /// (keys added are removed, the initial key restored if it was removed); and re-seeds the random failures with
    /// <see cref="M3terEmulatorOptions.RandomSeed"/>. Tokens already issued stay valid.
    /// </summary>
    public void Reset()
    {
        ClearRequests();
        _credentials.Clear();
        _credentials[_options.AccessKeyId] = (_options.ApiSecret, _options.OrganizationId);
        TokenLifetime = _options.TokenLifetime;
        lock (_randomGate)
        {
            _random = _options.RandomSeed is int seed ? new Random(seed) : new Random();
        }

        _tokenFaults.Clear();
        _keyTokenFaults.Clear();
        _configFaults.Clear();
        _ingestFaults.Clear();
        PersistentTokenFault = null;
        TransientTokenFailureRate = 0;
        InvalidTokenStatusCode = HttpStatusCode.Forbidden;
        _deniedPaths.Clear();
        _revoked.Clear();
        _apiRate.Reset();
        _ingestRate.Reset();
    }

    /// <summary>
    /// Waits until <paramref name="count"/> recorded requests match <paramref name="predicate"/> and the emulator has decided
    /// their answers (see <see cref="M3terRecordedRequest.StatusCode"/>); the client may not have read them yet, so await
    /// your own call before checking what it received.
    /// </summary>
    /// <param name="predicate">Which requests count.</param>
    /// <param name="count">How many to wait for.</param>
    /// <param name="timeout">How long to wait at most.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The matching requests, in the order received.</returns>
    /// <exception cref="TimeoutException">Fewer arrived within <paramref name="timeout"/>; the message says how many.</exception>
    /// <exception cref="InvalidOperationException"><see cref="M3terEmulatorOptions.RecordRequests"/> is off, so no request could ever match.</exception>
    public async Task<IReadOnlyList<M3terRecordedRequest>> WaitForRequestsAsync(Func<M3terRecordedRequest, bool> predicate, int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        if (!_options.RecordRequests || _options.MaxRecordedRequests == 0)
        {
            throw new InvalidOperationException("WaitForRequestsAsync needs recorded requests, but this emulator was started with RecordRequests = false or MaxRecordedRequests = 0.");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            Task arrived = Volatile.Read(ref _requestArrived).Task;
            M3terRecordedRequest[] matching = _requests.Snapshot().Where(r => r.StatusCode is not null && predicate(r)).ToArray();
            if (matching.Length >= count)
            {
                return matching;
            }

            try
            {
                await arrived.WaitAsync(TimeSpan.FromMilliseconds(50), deadline.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Look again: a request may have been answered without a new one arriving.
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"Only {matching.Length} of {count} matching requests arrived within {timeout}."));
            }
        }
    }

    private static string NormalizePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return "/" + path.Trim('/');
    }

    private int Revoke(Func<IssuedToken, bool> which)
    {
        int revoked = 0;
        foreach (var (token, issued) in _tokens)
        {
            if (which(issued) && _revoked.TryAdd(token, true))
            {
                revoked++;
            }
        }

        return revoked;
    }
}
