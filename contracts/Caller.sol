// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IStore {
    function set(uint256 key, uint256 value) external;
}

interface IToken {
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title Child
/// @notice Created by Caller with CREATE2; stores its creator and an initial value.
contract Child {
    address public immutable parent;
    uint256 public value;

    event Born(address indexed parent, uint256 value);

    constructor(uint256 value_) payable {
        parent = msg.sender;
        value = value_;
        emit Born(msg.sender, value_);
    }

    function bump() external returns (uint256) {
        value += 1;
        return value;
    }
}

/// @title Caller
/// @notice Cross-contract calls: into a Store and a Token, recursive self-calls, a caught revert,
///         a delegatecall, value forwarding and CREATE2 of a Child.
contract Caller {
    uint256 public depthReached;
    uint256 public calls;

    event Called(address indexed target, uint256 indexed depth);
    event ChildCreated(address indexed child, bytes32 indexed salt);
    event Caught(address indexed target, bytes reason);
    event Forwarded(address indexed to, uint256 value);

    /// Calls Store.set(key, value).
    function callStore(address store, uint256 key, uint256 value) external {
        calls += 1;
        IStore(store).set(key, value);
        emit Called(store, 0);
    }

    /// Calls Token.transfer from this contract's own token balance.
    function callToken(address token, address to, uint256 value) external {
        calls += 1;
        require(IToken(token).transfer(to, value), "transfer failed");
        emit Called(token, 0);
    }

    /// Recurses `depth` times through external self-calls; then writes Store at the bottom.
    function nested(address store, uint256 depth, uint256 key) external returns (uint256) {
        emit Called(address(this), depth);
        if (depth == 0) {
            IStore(store).set(key, block.number);
            return 0;
        }
        uint256 below = this.nested(store, depth - 1, key);
        if (depth > depthReached) depthReached = depth;
        return below + 1;
    }

    /// Calls `target` with `data`, catching a revert; the transaction succeeds either way.
    function tryCall(address target, bytes calldata data) external returns (bool ok) {
        bytes memory ret;
        (ok, ret) = target.call(data);
        if (!ok) emit Caught(target, ret);
    }

    /// Runs Store's `set` code on this contract's storage through DELEGATECALL: it writes slot
    /// keccak256(abi.encode(key, 0)) and increments slot 1 (`calls` here) of this contract.
    function delegateSet(address store, uint256 key, uint256 value) external {
        (bool ok, ) = store.delegatecall(abi.encodeWithSelector(IStore.set.selector, key, value));
        require(ok, "delegatecall failed");
    }

    /// Forwards msg.value to `to` (an internal value transfer).
    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
        emit Forwarded(to, msg.value);
    }

    /// Creates a Child with CREATE2 at a salt-determined address, passing on msg.value, and calls it.
    function deployChild(bytes32 salt, uint256 value) external payable returns (address child) {
        Child c = new Child{salt: salt, value: msg.value}(value);
        c.bump();
        child = address(c);
        emit ChildCreated(child, salt);
    }

    /// The CREATE2 address `deployChild(salt, value)` creates.
    function childAddress(bytes32 salt, uint256 value) external view returns (address) {
        bytes32 h = keccak256(
            abi.encodePacked(
                bytes1(0xff),
                address(this),
                salt,
                keccak256(abi.encodePacked(type(Child).creationCode, abi.encode(value)))
            )
        );
        return address(uint160(uint256(h)));
    }

    receive() external payable {}
}
