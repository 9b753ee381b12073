using System;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing.Internal;
using Microsoft.AspNetCore.Http;

namespace M3ter.Auth.Testing;

// The token endpoint and token checking: Basic credentials, the grant, issued tokens and their expiry.
public sealed partial class M3terEmulator
{
    private bool Authorized(M3terRecordedRequest record, out string? problem, out string organizationId)
    {
        organizationId = OrganizationId;
        string? token = record.BearerToken;
        if (token is null)
        {
            problem = "missing bearer token";
        }
        else if (!_tokens.TryGetValue(token, out IssuedToken? issued))
        {
            problem = "invalid token";
        }
        else if (_revoked.ContainsKey(token))
        {
            problem = "token has been revoked";
        }
        else if (_options.TimeProvider.GetUtcNow() >= issued.ExpiresAt)
        {
            problem = "token has expired";
        }
        else
        {
            problem = null;
            organizationId = issued.OrganizationId ?? OrganizationId;
        }

        return problem is null;
    }

    private async Task TokenAsync(HttpContext context, M3terRecordedRequest record, CancellationToken aborted)
    {
        // M3TER.md, "Getting a token": POST only.
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await MessageAsync(context, record, 405, "Method not allowed: the token endpoint takes POST").ConfigureAwait(false);
            return;
        }

        string? accessKeyId = Credentials(record, out string? secret);
        if (NextTokenFault(accessKeyId) is M3terFault fault && await ApplyFaultAsync(context, record, fault, aborted).ConfigureAwait(false))
        {
            return;
        }

        if (accessKeyId is null || !_credentials.TryGetValue(accessKeyId, out (string Secret, string OrganizationId) expected)
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected.Secret), Encoding.UTF8.GetBytes(secret!)))
        {
            await WriteAsync(context, record, 401, EmulatorJson.Write(w =>
            {
                w.WriteString("error", "invalid_client");
                w.WriteString("error_description", "Bad credentials");
            })).ConfigureAwait(false);
            return;
        }

        if (!GrantValid(record))
        {
            await WriteAsync(context, record, 400, EmulatorJson.Write(w =>
            {
                w.WriteString("error", "unsupported_grant_type");
                w.WriteString("error_description", "grant_type must be client_credentials");
            })).ConfigureAwait(false);
            return;
        }

        // expires_in is whole seconds: advertise the lifetime rounded up and let the token live exactly that long, so
        // no token dies before the moment its client was told.
        string token = NewToken();
        long seconds = Math.Max(1, (long)Math.Ceiling(TokenLifetime.TotalSeconds));
        DateTimeOffset now = _options.TimeProvider.GetUtcNow();
        _tokens[token] = new IssuedToken(now, now.AddSeconds(seconds), accessKeyId, PreIssued: false) { OrganizationId = expected.OrganizationId };
        if (Interlocked.Increment(ref _tokensIssued) % 64 == 0)
        {
            Prune(now);
        }

        await WriteAsync(context, record, 200, EmulatorJson.Write(w =>
        {
            w.WriteString("access_token", token);
            w.WriteString("token_type", "Bearer");
            w.WriteNumber("expires_in", seconds);
            w.WriteNull("scope");
        })).ConfigureAwait(false);
    }

    /// <summary>Forgets tokens that expired over a minute ago, and their revocations, so a long run's maps stay small.</summary>
    private void Prune(DateTimeOffset now)
    {
        foreach (var (token, issued) in _tokens)
        {
            if (issued.ExpiresAt < now - TimeSpan.FromMinutes(1) && _tokens.TryRemove(token, out _))
            {
                _revoked.TryRemove(token, out _);
            }
        }
    }

    private static string? Credentials(M3terRecordedRequest record, out string? secret)
    {
        secret = null;
        string? header = record.Authorization;
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
        }
        catch (FormatException)
        {
            return null;
        }

        int colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return null;
        }

        secret = decoded[(colon + 1)..];
        return decoded[..colon];
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
                    && grant.ValueEquals("client_credentials"); // compares the raw value: a lone surrogate escape cannot throw
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

    private sealed record IssuedToken(DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, string? AccessKeyId, bool PreIssued)
    {
        /// <summary>Gets the organization the token is for: null for the emulator's own (<see cref="OrganizationId"/>).</summary>
        public string? OrganizationId { get; init; }
    }
}
