using System;
using System.Collections.Generic;

namespace M3ter.Auth.Internal;

/// <summary>
/// The tokens m3ter refused lately, for a provider with a shared cache: never adopted from it again, and each removed
/// from it (compare and delete) by the next token request. Bounded: the most recent 16, since a refused token stays
/// refused and older ones have long left the shared cache by expiry.
/// </summary>
internal sealed class RefusedTokens
{
    private const int Capacity = 16;
    private readonly string?[] _recent = new string?[Capacity];
    private readonly List<M3terToken> _pending = new(Capacity);
    private int _next;

    /// <summary>Remembers a refused token and queues its removal from the shared cache.</summary>
    public void Add(M3terToken token)
    {
        lock (_recent)
        {
            if (Array.IndexOf(_recent, token.AccessToken) >= 0)
            {
                return;
            }

            _recent[_next] = token.AccessToken;
            _next = (_next + 1) % Capacity;
            if (_pending.Count == Capacity)
            {
                _pending.RemoveAt(0);
            }

            _pending.Add(token);
        }
    }

    /// <summary>Whether m3ter refused this token lately.</summary>
    public bool Contains(string accessToken)
    {
        lock (_recent)
        {
            return Array.IndexOf(_recent, accessToken) >= 0;
        }
    }

    /// <summary>The refused tokens not yet removed from the shared cache; the caller removes them.</summary>
    public M3terToken[] TakePending()
    {
        lock (_recent)
        {
            if (_pending.Count == 0)
            {
                return Array.Empty<M3terToken>();
            }

            M3terToken[] pending = _pending.ToArray();
            _pending.Clear();
            return pending;
        }
    }
}
