// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title SelfDestructor
/// @notice Self-destructs in its constructor, sending the value it was created with to
///         `beneficiary`. Since EIP-6780 (Cancun) this still removes the account, because the
///         SELFDESTRUCT runs in the creating transaction: the address ends with no code and no balance.
contract SelfDestructor {
    constructor(address payable beneficiary) payable {
        selfdestruct(beneficiary);
    }
}
