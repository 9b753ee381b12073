using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;

namespace M3ter.Auth.Testing;

/// <summary>A request the <see cref="M3terEmulator"/> received, and how it answered.</summary>
public sealed class M3terRecordedRequest
{
    private int _statusCode = -1;

    internal M3terRecordedRequest(M3terRequestKind kind, string host, string method, string path, IReadOnlyDictionary<string, string> headers, byte[] body, DateTimeOffset receivedAt)
    {
        Kind = kind;
        Host = host;
        Method = method;
        Path = path;
        Headers = headers;
        Body = body;
        ReceivedAt = receivedAt;
    }

    /// <summary>Gets which API the request went to (<see cref="M3terRequestKind.Other"/> for a path that is not one, or the wrong host).</summary>
    public M3terRequestKind Kind { get; }

    /// <summary>Gets which of the emulator's hosts received it: <c>api</c> or <c>ingest</c>.</summary>
    public string Host { get; }

    /// <summary>Gets the HTTP method.</summary>
    public string Method { get; }

    /// <summary>Gets the path, with the query string if there was one.</summary>
    public string Path { get; }

    /// <summary>Gets the request headers (names case-insensitive; repeated headers joined with commas).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>Gets the request body (for a body over the payload limit, its first bytes only).</summary>
    public byte[] Body { get; }

    /// <summary>Gets when the emulator received the request.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>
    /// Gets the status code the emulator answered with: null until it has decided its answer; 0 when it dropped the
    /// connection (a reset fault, also one cut off mid-response) or the client left while a delay fault held the
    /// answer. Set before the first byte of an answer the emulator writes is sent, so a client that has such a response
    /// finds it here.
    /// </summary>
    public int? StatusCode
    {
        get
        {
            int status = Volatile.Read(ref _statusCode);
            return status < 0 ? null : status;
        }
    }

    /// <summary>Gets the <c>Authorization</c> header, or null.</summary>
    public string? Authorization => Headers.TryGetValue("Authorization", out string? value) ? value : null;

    /// <summary>Gets the bearer token the request carried, or null.</summary>
    public string? BearerToken =>
        Authorization is string value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value.Substring(7) : null;

    /// <summary>Gets the body as UTF-8 text.</summary>
    public string BodyText => System.Text.Encoding.UTF8.GetString(Body);

    internal void Answered(int statusCode) => Volatile.Write(ref _statusCode, statusCode);

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Method} {Host} {Path} -> {(StatusCode is int status ? status.ToString(CultureInfo.InvariantCulture) : "(in flight)")}");
}
