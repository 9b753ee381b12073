using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.Testing;

/// <summary>
/// An m3ter emulator: a real HTTP server on loopback that imitates m3ter's token endpoint, config API and ingest API
/// closely enough for M3ter.Auth, its samples and your own integration tests.
/// </summary>
/// <remarks>
/// <para>It checks the Basic credentials and the grant, issues random opaque tokens with a configurable lifetime,
/// answers 403 <c>{"message": ...}</c> for a missing, unknown, revoked or expired token, records every request, and
/// injects faults into the token endpoint.</para>
/// <code>
/// await using var m3ter = await M3terEmulator.StartAsync();
/// services.AddM3terAuth(m3ter.Configure);
/// </code>
/// </remarks>
public sealed class M3terEmulator : IAsyncDisposable
{
    /// <summary>The largest ingest payload m3ter accepts, in bytes.</summary>
    public const int MaxIngestPayloadBytes = 512_000;

    private readonly WebApplication _app;
    private readonly M3terEmulatorOptions _options;
    private readonly ConcurrentDictionary<string, string> _credentials = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IssuedToken> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _revoked = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<M3terFault> _tokenFaults = new();
    private readonly ConcurrentQueue<M3terRecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, bool> _forbiddenPaths = new(StringComparer.Ordinal);
    private int _tokenRequests;
    private int _tokensIssued;
    private int _apiRequests;
    private int _apiRequestsWithoutToken;
    private int _apiRequestsRefused;
    private long _tokenLifetimeTicks;

    private M3terEmulator(WebApplication app, M3terEmulatorOptions options, Uri baseAddress)
    {
        _app = app;
        _options = options;
        BaseAddress = baseAddress;
        _credentials[options.AccessKeyId] = options.ApiSecret;
        _tokenLifetimeTicks = options.TokenLifetime.Ticks;
    }

    /// <summary>Gets the emulator's address, for example <c>http://127.0.0.1:54321/</c>: both the API and the ingest host.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Gets the access key id the emulator accepts.</summary>
    public string AccessKeyId => _options.AccessKeyId;

    /// <summary>Gets the API secret the emulator accepts.</summary>
    public string ApiSecret => _options.ApiSecret;

    /// <summary>Gets the organization id the emulator serves.</summary>
    public string OrganizationId => _options.OrganizationId;

    /// <summary>Gets or sets the lifetime of tokens issued from now on.</summary>
    public TimeSpan TokenLifetime
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _tokenLifetimeTicks));
        set => Interlocked.Exchange(ref _tokenLifetimeTicks, value.Ticks);
    }

    /// <summary>Gets or sets a fault injected into every token request until it is set back to null (after any queued ones).</summary>
    public M3terFault? PersistentTokenFault { get; set; }

    /// <summary>Gets or sets the fraction (0 to 1) of token requests that fail at random with 503, to model a flaky endpoint.</summary>
    public double TransientTokenFailureRate { get; set; }

    /// <summary>Gets how many requests reached the token endpoint, faulted ones included.</summary>
    public int TokenRequestCount => Volatile.Read(ref _tokenRequests);

    /// <summary>Gets or sets the status the emulator answers for a missing, unknown, revoked or expired token.</summary>
    /// <value>403 Forbidden, as m3ter does; set 401 to exercise clients that expect it.</value>
    public HttpStatusCode InvalidTokenStatusCode { get; set; } = HttpStatusCode.Forbidden;

    /// <summary>Gets how many requests reached the config and ingest APIs.</summary>
    public int ApiRequestCount => Volatile.Read(ref _apiRequests);

    /// <summary>Gets how many config and ingest API requests arrived without a bearer token.</summary>
    public int ApiRequestsWithoutTokenCount => Volatile.Read(ref _apiRequestsWithoutToken);

    /// <summary>Gets how many config and ingest API requests were refused because of their token (see <see cref="InvalidTokenStatusCode"/>).</summary>
    public int ApiRequestsRefusedCount => Volatile.Read(ref _apiRequestsRefused);

    /// <summary>Gets how many tokens the emulator issued.</summary>
    public int TokensIssued => Volatile.Read(ref _tokensIssued);

    /// <summary>Gets every token the emulator issued, in no particular order.</summary>
    public IReadOnlyCollection<string> IssuedTokens => _tokens.Keys.ToArray();

    /// <summary>Gets a snapshot of every request received, in the order received.</summary>
    public IReadOnlyList<M3terRecordedRequest> Requests => _requests.ToArray();

    /// <summary>Starts an emulator on a free loopback port.</summary>
    /// <param name="options">Its settings; random credentials and 5-hour tokens by default.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running emulator; dispose it to stop it.</returns>
    public static async Task<M3terEmulator> StartAsync(M3terEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new M3terEmulatorOptions();
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
        });
        WebApplication app = builder.Build();
        M3terEmulator? emulator = null;
        app.Run(context => emulator!.HandleAsync(context));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        emulator = new M3terEmulator(app, options, new Uri(address.TrimEnd('/') + "/"));
        return emulator;
    }

    /// <summary>Points options at this emulator: base address, credentials and organization. Pass it to <c>AddM3terAuth</c>.</summary>
    /// <param name="options">The options to set.</param>
    public void Configure(M3terAuthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.BaseAddress = BaseAddress;
        options.AccessKeyId = AccessKeyId;
        options.ApiSecret = ApiSecret;
        options.OrganizationId = OrganizationId;
    }

    /// <summary>Accepts another access key (as after generating a new key in m3ter).</summary>
    /// <param name="accessKeyId">The key id.</param>
    /// <param name="apiSecret">Its secret.</param>
    public void AddCredentials(string accessKeyId, string apiSecret) => _credentials[accessKeyId] = apiSecret;

    /// <summary>Stops accepting an access key (as after marking it inactive in m3ter). Tokens already issued stay valid.</summary>
    /// <param name="accessKeyId">The key id.</param>
    public void RemoveCredentials(string accessKeyId) => _credentials.TryRemove(accessKeyId, out _);

    /// <summary>Queues a fault for the next token request; queued faults are used once each, in order.</summary>
    /// <param name="fault">The fault.</param>
    public void EnqueueTokenFault(M3terFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        _tokenFaults.Enqueue(fault);
    }

    /// <summary>Revokes a token: requests that carry it get 403 from now on.</summary>
    /// <param name="accessToken">The token.</param>
    public void RevokeToken(string accessToken) => _revoked[accessToken] = true;

    /// <summary>Revokes every token issued more than <paramref name="age"/> ago, as a key deactivation or a token revocation would.</summary>
    /// <param name="age">How old a token must be to be revoked.</param>
    /// <returns>How many tokens were newly revoked.</returns>
    public int RevokeTokensOlderThan(TimeSpan age)
    {
        DateTimeOffset cutoff = _options.TimeProvider.GetUtcNow() - age;
        int revoked = 0;
        foreach (var (token, issued) in _tokens)
        {
            if (issued.IssuedAt <= cutoff && _revoked.TryAdd(token, true))
            {
                revoked++;
            }
        }

        return revoked;
    }

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
        _tokens[token] = new IssuedToken(now, expiresAt);
        return token;
    }

    /// <summary>Revokes every token issued so far.</summary>
    public void RevokeAllTokens()
    {
        foreach (string token in _tokens.Keys)
        {
            _revoked[token] = true;
        }
    }

    /// <summary>Makes every request whose path (after <c>/organizations/{orgId}</c>) starts with <paramref name="pathPrefix"/> get 403, whatever its token: a permission m3ter denies.</summary>
    /// <param name="pathPrefix">For example <c>/products</c>.</param>
    public void DenyPermission(string pathPrefix) => _forbiddenPaths[pathPrefix] = true;

    /// <summary>Forgets the recorded requests.</summary>
    public void ClearRequests() => _requests.Clear();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static byte[] Json(object value) => JsonSerializer.SerializeToUtf8Bytes(value);

    private static async Task WriteAsync(HttpContext context, M3terRecordedRequest record, int status, byte[]? body, string contentType = "application/json")
    {
        record.StatusCode = status;
        context.Response.StatusCode = status;
        if (body is not null)
        {
            context.Response.ContentType = contentType;
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static Task MessageAsync(HttpContext context, M3terRecordedRequest record, int status, string message) =>
        WriteAsync(context, record, status, Json(new Dictionary<string, string> { ["message"] = message }));

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        byte[] body = buffer.ToArray();
        string path = request.Path.Value ?? "/";
        string orgPrefix = "/organizations/" + OrganizationId;
        M3terRequestKind kind =
            path == "/oauth/token" ? M3terRequestKind.Token
            : path.StartsWith("/organizations/", StringComparison.Ordinal) && path.EndsWith("/measurements", StringComparison.Ordinal) && HttpMethods.IsPost(request.Method) ? M3terRequestKind.Ingest
            : path.StartsWith("/organizations/", StringComparison.Ordinal) ? M3terRequestKind.Config
            : M3terRequestKind.Other;
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var record = new M3terRecordedRequest(kind, request.Method, path + request.QueryString.Value, headers, body, _options.TimeProvider.GetUtcNow());
        if (_options.RecordRequests)
        {
            _requests.Enqueue(record);
        }

        if (kind is M3terRequestKind.Config or M3terRequestKind.Ingest)
        {
            Interlocked.Increment(ref _apiRequests);
        }

        switch (kind)
        {
            case M3terRequestKind.Token:
                await TokenAsync(context, record).ConfigureAwait(false);
                return;
            case M3terRequestKind.Other:
                await MessageAsync(context, record, 404, "Not found").ConfigureAwait(false);
                return;
        }

        if (!Authorized(record, out string? problem))
        {
            Interlocked.Increment(ref _apiRequestsRefused);
            if (record.BearerToken is null)
            {
                Interlocked.Increment(ref _apiRequestsWithoutToken);
            }

            await MessageAsync(context, record, (int)InvalidTokenStatusCode, problem!).ConfigureAwait(false);
            return;
        }

        if (!path.StartsWith(orgPrefix, StringComparison.Ordinal) || (path.Length > orgPrefix.Length && path[orgPrefix.Length] != '/'))
        {
            await MessageAsync(context, record, 403, "Forbidden: the organization does not exist or the service user has no access to it").ConfigureAwait(false);
            return;
        }

        string rest = path[orgPrefix.Length..];
        if (_forbiddenPaths.Keys.Any(prefix => rest.StartsWith(prefix, StringComparison.Ordinal)))
        {
            await MessageAsync(context, record, 403, "Forbidden: the service user lacks the permission for this resource").ConfigureAwait(false);
            return;
        }

        if (kind == M3terRequestKind.Ingest)
        {
            await IngestAsync(context, record).ConfigureAwait(false);
            return;
        }

        // The config API: list endpoints answer an empty page, everything else echoes an id.
        object answer = HttpMethods.IsGet(request.Method)
            ? rest.Length == 0 ? new Dictionary<string, object?> { ["id"] = OrganizationId, ["organizationName"] = "m3ter emulator" } : new Dictionary<string, object?> { ["data"] = Array.Empty<object>(), ["nextToken"] = null }
            : new Dictionary<string, object?> { ["id"] = Guid.NewGuid().ToString(), ["version"] = 1 };
        await WriteAsync(context, record, 200, Json(answer)).ConfigureAwait(false);
    }

    private bool Authorized(M3terRecordedRequest record, out string? problem)
    {
        string? token = record.BearerToken;
        if (token is null)
        {
            problem = "Forbidden: missing bearer token";
        }
        else if (!_tokens.TryGetValue(token, out IssuedToken? issued))
        {
            problem = "Forbidden: invalid token";
        }
        else if (_revoked.ContainsKey(token))
        {
            problem = "Forbidden: token has been revoked";
        }
        else if (_options.TimeProvider.GetUtcNow() >= issued.ExpiresAt)
        {
            problem = "Forbidden: token has expired";
        }
        else
        {
            problem = null;
        }

        return problem is null;
    }

    private static async Task IngestAsync(HttpContext context, M3terRecordedRequest record)
    {
        if (record.Body.Length >= MaxIngestPayloadBytes)
        {
            await MessageAsync(context, record, 403, "Request payload is larger than 512000 bytes").ConfigureAwait(false);
            return;
        }

        int count;
        try
        {
            using JsonDocument document = JsonDocument.Parse(record.Body);
            count = document.RootElement.TryGetProperty("measurements", out JsonElement measurements) && measurements.ValueKind == JsonValueKind.Array
                ? measurements.GetArrayLength()
                : -1;
        }
        catch (JsonException)
        {
            count = -1;
        }

        if (count is < 1 or > 1000)
        {
            await MessageAsync(context, record, 400, "The body must be {\"measurements\": [...]} with 1 to 1000 measurements").ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, record, 200, Json(new Dictionary<string, object> { ["result"] = "accepted", ["count"] = count })).ConfigureAwait(false);
    }

    private async Task TokenAsync(HttpContext context, M3terRecordedRequest record)
    {
        Interlocked.Increment(ref _tokenRequests);
        M3terFault? fault = _tokenFaults.TryDequeue(out M3terFault? queued) ? queued : PersistentTokenFault;
        if (fault is null && TransientTokenFailureRate > 0 && Random.Shared.NextDouble() < TransientTokenFailureRate)
        {
            fault = M3terFault.Status(HttpStatusCode.ServiceUnavailable, "{\"message\":\"Service Unavailable\"}");
        }

        if (fault is not null)
        {
            switch (fault.Kind)
            {
                case M3terFaultKind.Delay:
                    try
                    {
                        await Task.Delay(fault.Delay, context.RequestAborted).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }

                    break;
                case M3terFaultKind.Reset:
                    context.Abort();
                    return;
                case M3terFaultKind.ResetMidResponse:
                    context.Response.StatusCode = 200;
                    context.Response.ContentType = "application/json";
                    context.Response.ContentLength = 200;
                    await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(fault.Body!)).ConfigureAwait(false);
                    await context.Response.Body.FlushAsync().ConfigureAwait(false);
                    context.Abort();
                    return;
                default:
                    if (fault.RetryAfter is not null)
                    {
                        context.Response.Headers.RetryAfter = fault.RetryAfter;
                    }

                    await WriteAsync(context, record, (int)fault.StatusCode, fault.Body is null ? null : Encoding.UTF8.GetBytes(fault.Body), fault.ContentType).ConfigureAwait(false);
                    return;
            }
        }

        if (!CredentialsValid(record))
        {
            await WriteAsync(context, record, 401, Json(new Dictionary<string, string> { ["error"] = "invalid_client", ["error_description"] = "Bad credentials" })).ConfigureAwait(false);
            return;
        }

        if (!GrantValid(record))
        {
            await WriteAsync(context, record, 400, Json(new Dictionary<string, string> { ["error"] = "unsupported_grant_type", ["error_description"] = "grant_type must be client_credentials" })).ConfigureAwait(false);
            return;
        }

        string token = NewToken();
        TimeSpan lifetime = TokenLifetime;
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        _tokens[token] = new IssuedToken(now, now + lifetime);
        Interlocked.Increment(ref _tokensIssued);
        await WriteAsync(context, record, 200, Json(new Dictionary<string, object?>
        {
            ["access_token"] = token,
            ["token_type"] = "Bearer",
            ["expires_in"] = (long)Math.Ceiling(lifetime.TotalSeconds),
            ["scope"] = null,
        })).ConfigureAwait(false);
    }

    private bool CredentialsValid(M3terRecordedRequest record)
    {
        string? header = record.Authorization;
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        int colon = decoded.IndexOf(':', StringComparison.Ordinal);
        return colon > 0
            && _credentials.TryGetValue(decoded[..colon], out string? secret)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(decoded[(colon + 1)..]));
    }

    private static bool GrantValid(M3terRecordedRequest record)
    {
        string contentType = record.Headers.TryGetValue("Content-Type", out string? value) ? value : string.Empty;
        if (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using JsonDocument document = JsonDocument.Parse(record.Body);
                return document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty("grant_type", out JsonElement grant)
                    && grant.ValueKind == JsonValueKind.String
                    && grant.GetString() == "client_credentials";
            }
            catch (JsonException)
            {
                return false;
            }
        }

        if (contentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            return record.BodyText.Split('&').Any(pair => string.Equals(Uri.UnescapeDataString(pair), "grant_type=client_credentials", StringComparison.Ordinal));
        }

        return false;
    }

    private static string NewToken()
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return "emu_" + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    private sealed record IssuedToken(DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"m3ter emulator at {BaseAddress} ({TokensIssued} tokens issued)");
}
